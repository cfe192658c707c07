/* A stand-in for Windows's bcryptprimitives.dll, for Wine releases that lack it (Debian 12's
 * Wine 8): Rust's standard library takes its random bytes from ProcessPrng, which Windows 10 and
 * later export there. RtlGenRandom (advapi32's SystemFunction036) gives the same. .ci/cross
 * builds it with MinGW and puts it in the Wine prefix's system32; a Wine that has its own
 * bcryptprimitives.dll loads that one instead. */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!RtlGenRandom(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
