//! git's credential protocol as git itself speaks it, the oracle of the codec and the helper:
//!
//! - what git sends a helper, recorded from git 2.47.3 (a helper that writes its input to a
//!   file), is read by the codec as git means it and written by it byte for byte; the git
//!   installed now still sends exactly that;
//! - what the codec answers is read back by git (`git credential fill`, with a helper that
//!   prints it) as it was meant;
//! - git's own tests of helpers (t0303-credential-external.sh: lib-credential.sh's
//!   `helper_test`, `helper_test_password_expiry_utc` and `helper_test_oauth_refresh_token`, and
//!   `helper_test_authtype` as git 2.48 has it), their expected transcripts taken as data, run
//!   against our helper through real git, with the daemon and without.
#![cfg(unix)]
#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use std::path::Path;

use git_credential_azdo::git::{Capabilities, Credential};
use git_credential_azdo::secret::Secret;
use proptest::prelude::*;
use support::{Server, TestEnv, stderr, stdout};

/// git with `helper` as its only credential helper, and `args`.
fn git_with_helper(env: &TestEnv, helper: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut cmd = env.command("git");
    cmd.args(["-c", "credential.helper=", "-c"]).arg(format!("credential.helper={}", helper.display()));
    cmd.args(["-c", "credential.interactive=false"]).args(args);
    support::run(cmd, stdin)
}

// ---------------------------------------------------------------------------------------------
// What git sends a helper.

/// The WWW-Authenticate headers of the 401 that `{url}` answers, as Azure DevOps sends them.
const BEARER_CHALLENGE: &str =
    "Bearer authorization_uri=https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111";
const BASIC_CHALLENGE: &str = "Basic realm=\"https://dev.azure.com/\"";

/// A request git 2.47.3 sent its helper: the git command (`{url}` is a server that answers
/// every request with a 401 and the two challenges above), what it was given on stdin, and
/// what the helper read (`{host}` is the server's address).
struct Recorded {
    what: &'static str,
    args: &'static [&'static str],
    input: &'static str,
    sent: &'static str,
}

const RECORDED: &[Recorded] = &[
    Recorded {
        what: "get, after a 401 over HTTP, with the path",
        args: &["-c", "credential.useHttpPath=true", "ls-remote", "{url}/org/repo.git"],
        input: "",
        sent: "capability[]=authtype\ncapability[]=state\nprotocol=http\nhost={host}\npath=org/repo.git\n\
               wwwauth[]=Bearer authorization_uri=https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111\n\
               wwwauth[]=Basic realm=\"https://dev.azure.com/\"\n",
    },
    Recorded {
        what: "store, with an expiry and a refresh token",
        args: &["-c", "credential.useHttpPath=true", "credential", "approve"],
        input: "protocol=https\nhost=example.com:8443\npath=org/repo.git\nusername=alice\npassword=s3cret\n\
                password_expiry_utc=9999999999\noauth_refresh_token=xyzzy\n\n",
        sent: "protocol=https\nhost=example.com:8443\npath=org/repo.git\nusername=alice\npassword=s3cret\n\
               oauth_refresh_token=xyzzy\npassword_expiry_utc=9999999999\n",
    },
    Recorded {
        what: "erase, with the challenge",
        args: &["-c", "credential.useHttpPath=true", "credential", "reject"],
        input: "protocol=https\nhost=example.com:8443\npath=org/repo.git\nusername=alice\npassword=s3cret\n\
                wwwauth[]=Basic realm=\"x\"\n\n",
        sent: "protocol=https\nhost=example.com:8443\npath=org/repo.git\nusername=alice\npassword=s3cret\n\
               wwwauth[]=Basic realm=\"x\"\n",
    },
    Recorded {
        what: "store of a Bearer credential",
        args: &["credential", "approve"],
        input: "capability[]=authtype\nprotocol=https\nhost=git.example.com\nauthtype=Bearer\ncredential=tok\n\
                ephemeral=1\n\n",
        sent: "capability[]=authtype\nauthtype=Bearer\ncredential=tok\nephemeral=1\nprotocol=https\n\
               host=git.example.com\n",
    },
    Recorded {
        what: "store of an empty username and password",
        args: &["credential", "approve"],
        input: "protocol=https\nhost=sso.tld\nusername=\npassword=\n\n",
        sent: "protocol=https\nhost=sso.tld\nusername=\npassword=\n",
    },
    Recorded {
        what: "get with a header over 1 KiB (t0303's), on one line",
        args: &["credential", "fill"],
        input: "protocol=https\nhost=badguy.example.com\nwwwauth[]=basic realm={long}host=victim.example.com\n\n",
        sent: "protocol=https\nhost=badguy.example.com\nwwwauth[]=basic realm={long}host=victim.example.com\n",
    },
];

/// What each recorded request means (git-credential(1)), `host` the server's address.
fn meant(what: &str, host: &str) -> Credential {
    let text = |s: &str| Some(s.to_owned());
    let example = || Credential {
        protocol: text("https"),
        host: text("example.com:8443"),
        path: text("org/repo.git"),
        username: text("alice"),
        password: Some(Secret::new("s3cret")),
        ..Credential::default()
    };
    match what {
        "get, after a 401 over HTTP, with the path" => Credential {
            protocol: text("http"),
            host: text(host),
            path: text("org/repo.git"),
            wwwauth: vec![BEARER_CHALLENGE.to_owned(), BASIC_CHALLENGE.to_owned()],
            capabilities: Capabilities { authtype: true, state: true },
            ..Credential::default()
        },
        "store, with an expiry and a refresh token" => Credential {
            password_expiry_utc: Some(9_999_999_999),
            oauth_refresh_token: Some(Secret::new("xyzzy")),
            ..example()
        },
        "erase, with the challenge" => Credential { wwwauth: vec!["Basic realm=\"x\"".to_owned()], ..example() },
        "store of a Bearer credential" => Credential {
            protocol: text("https"),
            host: text("git.example.com"),
            capabilities: Capabilities { authtype: true, state: false },
            authtype: text("Bearer"),
            credential: Some(Secret::new("tok")),
            ephemeral: true,
            ..Credential::default()
        },
        "store of an empty username and password" => Credential {
            protocol: text("https"),
            host: text("sso.tld"),
            username: text(""),
            password: Some(Secret::new("")),
            ..Credential::default()
        },
        "get with a header over 1 KiB (t0303's), on one line" => Credential {
            protocol: text("https"),
            host: text("badguy.example.com"),
            wwwauth: vec![format!("basic realm={}host=victim.example.com", long_value())],
            ..Credential::default()
        },
        other => panic!("no meaning written for {other}"),
    }
}

/// lib-credential.sh's long value: its 1 KiB buffer less `wwwauth[]=basic realm=` and a NUL.
fn long_value() -> String {
    "a".repeat(1024 - 23)
}

fn filled_in(template: &str, host: &str) -> String {
    template.replace("{host}", host).replace("{url}", &format!("http://{host}")).replace("{long}", &long_value())
}

#[test]
fn the_codec_reads_what_git_sends_as_git_means_it_and_writes_it_as_git_does() {
    let host = "127.0.0.1:8080";
    for recorded in RECORDED {
        let sent = filled_in(recorded.sent, host);
        let meant = meant(recorded.what, host);
        assert_eq!(Credential::read(sent.as_bytes()).unwrap(), meant, "{}", recorded.what);
        let mut written = Vec::new();
        meant.write_request(&mut written).unwrap();
        assert_eq!(String::from_utf8(written).unwrap(), sent, "{}", recorded.what);
    }
}

/// Answers every request with a 401 and Azure DevOps's two challenges.
fn challenging_server() -> Server {
    Server::start(|_request| async {
        axum::http::Response::builder()
            .status(401)
            .header("WWW-Authenticate", BEARER_CHALLENGE)
            .header("WWW-Authenticate", BASIC_CHALLENGE)
            .body(axum::body::Body::empty())
            .unwrap()
    })
}

#[test]
fn the_git_installed_sends_what_git_2_47_3_sent() {
    let env = TestEnv::new();
    let server = challenging_server();
    let host = server.addr.to_string();
    let heard = env.path("heard");
    let recorder = env.script("record", &format!("cat > '{}'\n", heard.display()));
    for recorded in RECORDED {
        let _ = std::fs::remove_file(&heard);
        let args: Vec<String> = recorded.args.iter().map(|arg| filled_in(arg, &host)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = git_with_helper(&env, &recorder, &args, &filled_in(recorded.input, &host));
        let sent = std::fs::read_to_string(&heard)
            .unwrap_or_else(|e| panic!("{}: the helper heard nothing ({e}): {}", recorded.what, stderr(&out)));
        assert_eq!(sent, filled_in(recorded.sent, &host), "{}", recorded.what);
    }
}

// ---------------------------------------------------------------------------------------------
// What git reads from a helper.

/// Values the codec may write: anything but LF, CR and NUL.
fn clean() -> impl Strategy<Value = String> + Clone {
    "[^\r\n\0]{0,24}"
}

/// An answer git takes whole (a username and a password, and a password that has not
/// expired), with any of the rest.
fn answer() -> impl Strategy<Value = Credential> {
    let opt = || proptest::option::of(clean());
    let state = proptest::collection::vec("[^\r\n\0]{1,16}", 0..3);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    (
        (clean(), clean(), proptest::option::of(now + 3600..now + (1 << 32)), opt()),
        (opt(), opt(), any::<bool>(), state, any::<bool>()),
    )
        .prop_map(
            |((username, password, expiry, refresh), (authtype, credential, ephemeral, state, continue_))| Credential {
                username: Some(username),
                password: Some(Secret::new(password)),
                password_expiry_utc: expiry,
                oauth_refresh_token: refresh.map(Secret::new),
                authtype,
                credential: credential.map(Secret::new),
                ephemeral,
                state,
                continue_,
                ..Credential::default()
            },
        )
}

/// `git credential fill`'s output, line by line.
fn lines_of(out: &std::process::Output) -> Vec<(String, String)> {
    stdout(out).lines().map(|line| line.split_once('=').unwrap()).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn git_reads_what_the_codec_answers_as_it_was_meant(
        c in answer(),
        (authtype, state) in any::<(bool, bool)>(),
    ) {
        let env = TestEnv::new();
        let caps = Capabilities { authtype, state };
        let mut answer = Vec::new();
        c.write_response(caps, &mut answer).unwrap();
        let file = env.path("answer.txt");
        std::fs::write(&file, &answer).unwrap();
        let helper = env.script("answer", &format!("[ \"$1\" = get ] && cat '{}'\nexit 0\n", file.display()));
        let mut request = String::new();
        if authtype {
            request.push_str("capability[]=authtype\n");
        }
        if state {
            request.push_str("capability[]=state\n");
        }
        request.push_str("protocol=https\nhost=example.com\n\n");
        let out = git_with_helper(&env, &helper, &["credential", "fill"], &request);
        prop_assert!(out.status.success(), "{}", stderr(&out));
        let got = lines_of(&out);
        let values = |key: &str| got.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect::<Vec<_>>();
        let one = |value: Option<&str>| value.map(str::to_owned).into_iter().collect::<Vec<_>>();
        prop_assert_eq!(values("username"), one(c.username.as_deref()));
        prop_assert_eq!(values("password"), one(c.password.as_ref().map(Secret::expose)));
        prop_assert_eq!(values("password_expiry_utc"), one(c.password_expiry_utc.map(|t| t.to_string()).as_deref()));
        prop_assert_eq!(values("oauth_refresh_token"), one(c.oauth_refresh_token.as_ref().map(Secret::expose)));
        // Only to a request that said it understands them, and only whole.
        let bearer = authtype && c.authtype.is_some() && c.credential.is_some();
        prop_assert_eq!(values("authtype"), one(c.authtype.as_deref().filter(|_| bearer)));
        prop_assert_eq!(values("credential"), one(c.credential.as_ref().map(Secret::expose).filter(|_| bearer)));
        prop_assert_eq!(values("ephemeral"), one((bearer && c.ephemeral).then_some("1")));
        let stateful = state && (c.continue_ || !c.state.is_empty());
        prop_assert_eq!(values("continue"), one((stateful && c.continue_).then_some("1")));
        let items: Vec<String> = if stateful { c.state.clone() } else { Vec::new() };
        prop_assert_eq!(values("state[]"), items);
    }
}

// ---------------------------------------------------------------------------------------------
// git's own tests of credential helpers.

/// One `check` of git's lib-credential.sh: `git credential <action>` with `input`, our helper
/// git's only one, `askpass` answering git's prompts. git's stdout, and its stderr (which holds
/// only the askpass prompts: the helper says nothing), must be exactly these.
struct Check {
    action: &'static str,
    input: &'static str,
    stdout: &'static str,
    stderr: &'static str,
    /// `test_config` of the check.
    config: &'static [&'static str],
}

const fn fill(input: &'static str, stdout: &'static str, stderr: &'static str) -> Check {
    Check { action: "fill", input, stdout, stderr, config: &[] }
}

const fn approve(input: &'static str) -> Check {
    Check { action: "approve", input, stdout: "", stderr: "", config: &[] }
}

const fn reject(input: &'static str) -> Check {
    Check { action: "reject", input, stdout: "", stderr: "", config: &[] }
}

const WITH_PATH: &[&str] = &["credential.usehttppath=true"];

/// `helper_test`.
const HELPER_TEST: &[Check] = &[
    // has no existing data
    fill(
        "protocol=https\nhost=example.com\n",
        "protocol=https\nhost=example.com\nusername=askpass-username\npassword=askpass-password\n",
        "askpass: Username for 'https://example.com':\naskpass: Password for 'https://askpass-username@example.com':\n",
    ),
    // stores password; can retrieve password
    approve("protocol=https\nhost=example.com\nusername=store-user\npassword=store-pass\n"),
    fill(
        "protocol=https\nhost=example.com\n",
        "protocol=https\nhost=example.com\nusername=store-user\npassword=store-pass\n",
        "",
    ),
    // requires matching protocol, host, username
    fill(
        "protocol=http\nhost=example.com\n",
        "protocol=http\nhost=example.com\nusername=askpass-username\npassword=askpass-password\n",
        "askpass: Username for 'http://example.com':\naskpass: Password for 'http://askpass-username@example.com':\n",
    ),
    fill(
        "protocol=https\nhost=other.tld\n",
        "protocol=https\nhost=other.tld\nusername=askpass-username\npassword=askpass-password\n",
        "askpass: Username for 'https://other.tld':\naskpass: Password for 'https://askpass-username@other.tld':\n",
    ),
    fill(
        "protocol=https\nhost=example.com\nusername=other\n",
        "protocol=https\nhost=example.com\nusername=other\npassword=askpass-password\n",
        "askpass: Password for 'https://other@example.com':\n",
    ),
    // requires matching path
    Check {
        config: WITH_PATH,
        ..approve("protocol=http\nhost=path.tld\npath=foo.git\nusername=user\npassword=pass\n")
    },
    Check {
        config: WITH_PATH,
        ..fill(
            "protocol=http\nhost=path.tld\npath=bar.git\n",
            "protocol=http\nhost=path.tld\npath=bar.git\nusername=askpass-username\npassword=askpass-password\n",
            "askpass: Username for 'http://path.tld/bar.git':\n\
             askpass: Password for 'http://askpass-username@path.tld/bar.git':\n",
        )
    },
    // overwrites on store
    approve("protocol=https\nhost=example.com\nusername=user-overwrite\npassword=pass1\n"),
    approve("protocol=https\nhost=example.com\nusername=user-overwrite\npassword=pass2\n"),
    fill(
        "protocol=https\nhost=example.com\nusername=user-overwrite\n",
        "protocol=https\nhost=example.com\nusername=user-overwrite\npassword=pass2\n",
        "",
    ),
    reject("protocol=https\nhost=example.com\nusername=user-overwrite\npassword=pass2\n"),
    fill(
        "protocol=https\nhost=example.com\nusername=user-overwrite\n",
        "protocol=https\nhost=example.com\nusername=user-overwrite\npassword=askpass-password\n",
        "askpass: Password for 'https://user-overwrite@example.com':\n",
    ),
    // can forget host
    reject("protocol=https\nhost=example.com\n"),
    fill(
        "protocol=https\nhost=example.com\n",
        "protocol=https\nhost=example.com\nusername=askpass-username\npassword=askpass-password\n",
        "askpass: Username for 'https://example.com':\naskpass: Password for 'https://askpass-username@example.com':\n",
    ),
    // can store multiple users
    approve("protocol=https\nhost=example.com\nusername=user1\npassword=pass1\n"),
    approve("protocol=https\nhost=example.com\nusername=user2\npassword=pass2\n"),
    fill(
        "protocol=https\nhost=example.com\nusername=user1\n",
        "protocol=https\nhost=example.com\nusername=user1\npassword=pass1\n",
        "",
    ),
    fill(
        "protocol=https\nhost=example.com\nusername=user2\n",
        "protocol=https\nhost=example.com\nusername=user2\npassword=pass2\n",
        "",
    ),
    // does not erase a password distinct from input
    approve("protocol=https\nhost=example.com\nusername=user-distinct-pass\npassword=pass1\n"),
    reject("protocol=https\nhost=example.com\nusername=user-distinct-pass\npassword=pass2\n"),
    fill(
        "protocol=https\nhost=example.com\nusername=user-distinct-pass\n",
        "protocol=https\nhost=example.com\nusername=user-distinct-pass\npassword=pass1\n",
        "",
    ),
    // can forget user; remembers other user
    reject("protocol=https\nhost=example.com\nusername=user1\n"),
    fill(
        "protocol=https\nhost=example.com\nusername=user1\n",
        "protocol=https\nhost=example.com\nusername=user1\npassword=askpass-password\n",
        "askpass: Password for 'https://user1@example.com':\n",
    ),
    fill(
        "protocol=https\nhost=example.com\nusername=user2\n",
        "protocol=https\nhost=example.com\nusername=user2\npassword=pass2\n",
        "",
    ),
    // can store empty username
    approve("protocol=https\nhost=sso.tld\nusername=\npassword=\n"),
    fill("protocol=https\nhost=sso.tld\n", "protocol=https\nhost=sso.tld\nusername=\npassword=\n", ""),
    // erases all matching credentials
    approve("protocol=https\nhost=example.com\nusername=user-erase1\npassword=pass1\n"),
    approve("protocol=https\nhost=example.com\nusername=user-erase2\npassword=pass1\n"),
    reject("protocol=https\nhost=example.com\n"),
    fill(
        "protocol=https\nhost=example.com\n",
        "protocol=https\nhost=example.com\nusername=askpass-username\npassword=askpass-password\n",
        "askpass: Username for 'https://example.com':\naskpass: Password for 'https://askpass-username@example.com':\n",
    ),
    // not confused by long header
    approve("protocol=https\nhost=victim.example.com\nusername=user\npassword=to-be-stolen\n"),
    fill(
        "protocol=https\nhost=badguy.example.com\nwwwauth[]=basic realm={long}host=victim.example.com\n",
        "protocol=https\nhost=badguy.example.com\nusername=askpass-username\npassword=askpass-password\n\
         wwwauth[]=basic realm={long}host=victim.example.com\n",
        "askpass: Username for 'https://badguy.example.com':\n\
         askpass: Password for 'https://askpass-username@badguy.example.com':\n",
    ),
];

/// `helper_test_password_expiry_utc`.
const EXPIRY_TEST: &[Check] = &[
    approve("protocol=https\nhost=example.com\nusername=user-expiry\npassword=pass\npassword_expiry_utc=9999999999\n"),
    fill(
        "protocol=https\nhost=example.com\nusername=user-expiry\n",
        "protocol=https\nhost=example.com\nusername=user-expiry\npassword=pass\npassword_expiry_utc=9999999999\n",
        "",
    ),
    approve(
        "protocol=https\nhost=example.com\nusername=user-expiry-overwrite\npassword=pass1\n\
         password_expiry_utc=9999999998\n",
    ),
    approve(
        "protocol=https\nhost=example.com\nusername=user-expiry-overwrite\npassword=pass2\n\
         password_expiry_utc=9999999999\n",
    ),
    fill(
        "protocol=https\nhost=example.com\nusername=user-expiry-overwrite\n",
        "protocol=https\nhost=example.com\nusername=user-expiry-overwrite\npassword=pass2\n\
         password_expiry_utc=9999999999\n",
        "",
    ),
    reject("protocol=https\nhost=example.com\nusername=user-expiry-overwrite\npassword=pass2\n"),
    fill(
        "protocol=https\nhost=example.com\nusername=user-expiry-overwrite\n",
        "protocol=https\nhost=example.com\nusername=user-expiry-overwrite\npassword=askpass-password\n",
        "askpass: Password for 'https://user-expiry-overwrite@example.com':\n",
    ),
];

/// `helper_test_oauth_refresh_token`.
const REFRESH_TOKEN_TEST: &[Check] = &[
    approve("protocol=https\nhost=example.com\nusername=user4\npassword=pass\noauth_refresh_token=xyzzy\n"),
    fill(
        "protocol=https\nhost=example.com\nusername=user4\n",
        "protocol=https\nhost=example.com\nusername=user4\npassword=pass\noauth_refresh_token=xyzzy\n",
        "",
    ),
];

/// `helper_test_authtype`, as git 2.48 has it (one check more than 2.47.3's: a request without
/// the capability gets nothing of it).
const AUTHTYPE_TEST: &[Check] = &[
    approve("capability[]=authtype\nauthtype=Bearer\ncredential=random-token\nprotocol=https\nhost=git.example.com\n"),
    fill(
        "capability[]=authtype\nprotocol=https\nhost=git.example.com\n",
        "capability[]=authtype\nauthtype=Bearer\ncredential=random-token\nprotocol=https\nhost=git.example.com\n",
        "",
    ),
    fill(
        "protocol=https\nhost=git.example.com\n",
        "protocol=https\nhost=git.example.com\nusername=askpass-username\npassword=askpass-password\n",
        "askpass: Username for 'https://git.example.com':\n\
         askpass: Password for 'https://askpass-username@git.example.com':\n",
    ),
    approve(
        "capability[]=authtype\nauthtype=Bearer\ncredential=other-token\nprotocol=https\nhost=git.example.com\n\
         username=foobar\n",
    ),
    fill(
        "capability[]=authtype\nprotocol=https\nhost=git.example.com\nusername=foobar\n",
        "capability[]=authtype\nauthtype=Bearer\ncredential=other-token\nprotocol=https\nhost=git.example.com\n\
         username=foobar\n",
        "",
    ),
    fill(
        "capability[]=authtype\nprotocol=https\nhost=git.example.com\nusername=barbaz\n",
        "protocol=https\nhost=git.example.com\nusername=barbaz\npassword=askpass-password\n",
        "askpass: Password for 'https://barbaz@git.example.com':\n",
    ),
    // does not store ephemeral authtype and credential
    approve(
        "capability[]=authtype\nauthtype=Bearer\ncredential=git2-token\nprotocol=https\nhost=git2.example.com\n\
         ephemeral=1\n",
    ),
    fill(
        "capability[]=authtype\nprotocol=https\nhost=git2.example.com\n",
        "protocol=https\nhost=git2.example.com\nusername=askpass-username\npassword=askpass-password\n",
        "askpass: Username for 'https://git2.example.com':\n\
         askpass: Password for 'https://askpass-username@git2.example.com':\n",
    ),
    // does not store ephemeral username and password (`user=` as git's test has it)
    approve(
        "capability[]=authtype\nprotocol=https\nhost=git2.example.com\nuser=barbaz\npassword=secret\nephemeral=1\n",
    ),
    fill(
        "capability[]=authtype\nprotocol=https\nhost=git2.example.com\n",
        "protocol=https\nhost=git2.example.com\nusername=askpass-username\npassword=askpass-password\n",
        "askpass: Username for 'https://git2.example.com':\n\
         askpass: Password for 'https://askpass-username@git2.example.com':\n",
    ),
];

/// Runs git's checks, in t0303's order, against our helper in `env`.
fn git_helper_tests(env: &TestEnv) {
    // As lib-credential.sh's: the prompt, less trailing blanks, on stderr; the answer named
    // after the prompt's first word.
    let askpass = env.script(
        "askpass",
        "echo \"askpass: $1\" | sed 's/ *$//' >&2\n\
         case \"$1\" in Username*) echo askpass-username ;; *) echo askpass-password ;; esac\n",
    );
    let all = [HELPER_TEST, EXPIRY_TEST, REFRESH_TOKEN_TEST, AUTHTYPE_TEST];
    for (number, check) in all.iter().flat_map(|checks| checks.iter()).enumerate() {
        let mut cmd = env.command("git");
        cmd.env("GIT_ASKPASS", &askpass);
        cmd.args(["-c", "credential.helper=", "-c"]).arg(format!("credential.helper={}", env.bin().display()));
        for setting in check.config {
            cmd.args(["-c", setting]);
        }
        cmd.args(["credential", check.action]);
        let input = filled_in(check.input, "");
        let out = support::run(cmd, &format!("{input}\n"));
        let what = format!("check {number}: git credential {} of\n{input}", check.action);
        support::assert_success(&out, &what);
        assert_eq!(stdout(&out), filled_in(check.stdout, ""), "{what}");
        assert_eq!(stderr(&out), check.stderr, "{what}");
    }
}

#[test]
fn git_s_own_helper_tests_pass_with_the_daemon() {
    let env = TestEnv::new();
    git_helper_tests(&env);
    assert!(env.daemon_pid().is_some(), "the daemon answered");
}

#[test]
fn git_s_own_helper_tests_pass_without_the_daemon() {
    let mut env = TestEnv::new();
    env.set_env("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1");
    git_helper_tests(&env);
    assert_eq!(env.daemon_pid(), None, "answered in-process");
}
