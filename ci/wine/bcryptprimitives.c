/* TEST-ONLY shim for running the x86_64-pc-windows-gnu test binaries under Wine 8.0.
 *
 * Rust std >= 1.78 imports bcryptprimitives.dll!ProcessPrng, which Wine 8.0 does not provide,
 * so every Rust test binary fails to start (exit 53, "bcryptprimitives.dll ... not found").
 * .ci/cross builds this file with mingw into a DLL and puts it on WINEPATH. Real Windows has
 * the real DLL; never ship this one.
 */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (!RtlGenRandom(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
