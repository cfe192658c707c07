//! Length-prefixed JSON frames, read and written both blocking (the helper) and async (the
//! daemon). A frame longer than [`MAX_FRAME`] is refused before anything is allocated for it.

use std::io::{Read, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest frame either side accepts: enough for any request git can make (its lines are
/// at most 64 KiB) and any status listing, small enough that a bad client cannot exhaust memory.
pub const MAX_FRAME: usize = 8 << 20;
/// The largest [`Hello`](super::Hello) the daemon reads: its shape is fixed and small.
pub const MAX_HELLO: usize = 4 << 10;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the connection closed")]
    Closed,
    #[error("a frame of {0} bytes is over the limit")]
    TooLarge(usize),
    /// The reader's memory for frames is taken by other connections for now.
    #[error("no room for a frame of {0} bytes now")]
    NoRoom(usize),
    /// The JSON did not parse. The message gives the position only, never the content.
    #[error("a malformed frame ({0})")]
    Malformed(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Serialises `message` as one frame appended to `buf`.
pub fn encode<T: Serialize>(message: &T, buf: &mut Vec<u8>) -> Result<(), FrameError> {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    serde_json::to_writer(&mut *buf, message).map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len = buf.len() - start - 4;
    if len > MAX_FRAME {
        buf.truncate(start);
        return Err(FrameError::TooLarge(len));
    }
    let len = u32::try_from(len).map_err(|_| FrameError::TooLarge(len))?;
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Parses one frame's payload.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    serde_json::from_slice(payload).map_err(|e| FrameError::Malformed(crate::secret::describe_json_error(&e)))
}

fn check_len(header: [u8; 4], limit: usize) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > limit { Err(FrameError::TooLarge(len)) } else { Ok(len) }
}

pub fn write_sync<T: Serialize>(mut writer: impl Write, message: &T) -> Result<(), FrameError> {
    let mut buf = Vec::new();
    encode(message, &mut buf)?;
    writer.write_all(&buf)?;
    writer.flush()?;
    Ok(())
}

pub fn read_sync<T: DeserializeOwned>(mut reader: impl Read) -> Result<T, FrameError> {
    let mut header = [0; 4];
    reader.read_exact(&mut header).map_err(closed_or_io)?;
    let mut payload = zeroize::Zeroizing::new(vec![0; check_len(header, MAX_FRAME)?]);
    reader.read_exact(&mut payload).map_err(closed_or_io)?;
    decode(&payload)
}

pub async fn read_async<T: DeserializeOwned>(reader: impl AsyncRead + Unpin) -> Result<T, FrameError> {
    read_async_within(reader, MAX_FRAME).await
}

/// Reads a frame of at most `limit` bytes.
pub async fn read_async_within<T: DeserializeOwned>(
    mut reader: impl AsyncRead + Unpin,
    limit: usize,
) -> Result<T, FrameError> {
    let mut header = [0; 4];
    reader.read_exact(&mut header).await.map_err(closed_or_io)?;
    let mut payload = zeroize::Zeroizing::new(vec![0; check_len(header, limit)?]);
    reader.read_exact(&mut payload).await.map_err(closed_or_io)?;
    decode(&payload)
}

/// Frames up to this size are read without asking the budget of
/// [`read_async_budgeted`]: every request git makes fits, so a reader whose budget others have
/// taken still serves git.
pub const SMALL_FRAME: usize = 64 << 10;

/// Reads a frame of at most `limit` bytes. A frame over [`SMALL_FRAME`] must also fit in what
/// is left of `budget` (bytes, shared by every connection), which it holds while it is read:
/// however many connections announce large frames, the reader holds at most the budget for
/// them (plus a small frame each).
pub async fn read_async_budgeted<T: DeserializeOwned>(
    mut reader: impl AsyncRead + Unpin,
    limit: usize,
    budget: &tokio::sync::Semaphore,
) -> Result<T, FrameError> {
    let mut header = [0; 4];
    reader.read_exact(&mut header).await.map_err(closed_or_io)?;
    let len = check_len(header, limit)?;
    let _room = if len <= SMALL_FRAME {
        None
    } else {
        let permits = u32::try_from(len).map_err(|_| FrameError::TooLarge(len))?;
        Some(budget.try_acquire_many(permits).map_err(|_| FrameError::NoRoom(len))?)
    };
    let mut payload = zeroize::Zeroizing::new(vec![0; len]);
    reader.read_exact(&mut payload).await.map_err(closed_or_io)?;
    decode(&payload)
}

fn closed_or_io(e: std::io::Error) -> FrameError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof { FrameError::Closed } else { FrameError::Io(e) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::{Hello, Request};

    #[test]
    fn frames_round_trip_back_to_back() {
        let mut buf = Vec::new();
        encode(&Hello::ours(true), &mut buf).unwrap();
        encode(&Request::Status, &mut buf).unwrap();
        let mut reader = &buf[..];
        assert_eq!(read_sync::<Hello>(&mut reader).unwrap(), Hello::ours(true));
        assert_eq!(read_sync::<Request>(&mut reader).unwrap(), Request::Status);
        assert!(matches!(read_sync::<Request>(&mut reader), Err(FrameError::Closed)));
    }

    #[test]
    fn an_oversized_length_is_refused_before_allocating() {
        let mut bytes = u32::MAX.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        assert!(matches!(read_sync::<Request>(&bytes[..]), Err(FrameError::TooLarge(len)) if len == u32::MAX as usize));
    }

    #[test]
    fn malformed_json_names_no_content() {
        let payload = br#"{"type":"get","credential":{"password":12,"host":"secret-host"}}"#;
        let mut bytes = u32::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
        bytes.extend_from_slice(payload);
        let err = read_sync::<Request>(&bytes[..]).unwrap_err();
        assert!(matches!(err, FrameError::Malformed(_)));
        assert!(!err.to_string().contains("secret-host"), "{err}");

        let payload = br#"{"type":"hunter2"}"#;
        let mut bytes = u32::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
        bytes.extend_from_slice(payload);
        let err = read_sync::<Request>(&bytes[..]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn large_frames_share_a_budget_and_small_ones_do_not_need_it() {
        let budget = tokio::sync::Semaphore::new(SMALL_FRAME * 3);
        let large = |len: usize| {
            let mut bytes = u32::try_from(len).unwrap().to_be_bytes().to_vec();
            bytes.extend_from_slice(b"\"");
            bytes.resize(len + 3, b'x');
            bytes.push(b'"');
            bytes
        };
        let frame = large(SMALL_FRAME * 2);
        let read: String = read_async_budgeted(&frame[..], MAX_FRAME, &budget).await.unwrap();
        assert_eq!(read.len(), SMALL_FRAME * 2 - 2);
        assert_eq!(budget.available_permits(), SMALL_FRAME * 3, "given back once read");

        // A frame half sent holds its share meanwhile; another that does not fit is refused.
        let held = budget.try_acquire_many(u32::try_from(SMALL_FRAME * 2).unwrap()).unwrap();
        let refused = read_async_budgeted::<String>(&frame[..], MAX_FRAME, &budget).await;
        assert!(matches!(refused, Err(FrameError::NoRoom(len)) if len == SMALL_FRAME * 2), "{refused:?}");
        let mut small = Vec::new();
        encode(&Request::Status, &mut small).unwrap();
        let request: Request = read_async_budgeted(&small[..], MAX_FRAME, &budget).await.unwrap();
        assert_eq!(request, Request::Status, "small frames are read whatever the budget");
        drop(held);
        let _: String = read_async_budgeted(&frame[..], MAX_FRAME, &budget).await.unwrap();
    }

    #[test]
    fn a_truncated_frame_is_a_closed_connection() {
        let mut buf = Vec::new();
        encode(&Request::Status, &mut buf).unwrap();
        buf.pop();
        assert!(matches!(read_sync::<Request>(&buf[..]), Err(FrameError::Closed)));
    }
}
