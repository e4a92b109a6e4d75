using System.Reflection;
using System.Runtime.InteropServices;

namespace TempMe.Pipeline.Encoder.Internal;

/// <summary>
/// OpenBLAS <c>cblas_sgemm</c> through <see cref="LibraryImportAttribute"/>. The library is located once by
/// <see cref="NativeLibraryProbe"/>; when it is absent, <see cref="IsAvailable"/> is false and callers use the managed kernels.
/// Set <c>TEMPME_BLAS=managed</c> to force the managed path.
/// </summary>
internal static unsafe partial class NativeBlas
{
    /// <summary>The logical library name used by the imports; the resolver maps it to whatever the probe found.</summary>
    internal const string LibraryName = "tempme-openblas";

    private const int RowMajor = 101;
    private const int NoTrans = 111;
    private const int Trans = 112;

    /// <summary>True when an OpenBLAS with <c>cblas_sgemm</c> was found and loaded.</summary>
    public static bool IsAvailable => NativeLibraryProbe.Handle != IntPtr.Zero;

    /// <summary>A one-line description of the backend in use, for notices and benchmarks.</summary>
    public static string Description => NativeLibraryProbe.Description;

    /// <summary>Row-major <c>C = alpha·A·op(B) + beta·C</c>, op(B) = Bᵀ when <paramref name="transB"/>.</summary>
    public static void Sgemm(bool transB, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
        => cblas_sgemm(RowMajor, NoTrans, transB ? Trans : NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    [LibraryImport(LibraryName)]
    private static partial void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);
}

/// <summary>Finds OpenBLAS by trying the usual sonames and paths, and installs a resolver for <see cref="NativeBlas.LibraryName"/>.</summary>
internal static class NativeLibraryProbe
{
    private static readonly string[] Candidates =
    [
        "libopenblas.so.0",
        "libopenblas.so",
        "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
        "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
        "/usr/lib64/libopenblas.so.0",
        "libopenblas.dylib",
        "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
        "libopenblas.dll",
        "openblas",
    ];

    private static readonly Lazy<(IntPtr Handle, string Description)> Probed = new(Probe);

    /// <summary>The loaded library, or zero when none was found (or <c>TEMPME_BLAS=managed</c>).</summary>
    public static IntPtr Handle => Probed.Value.Handle;

    /// <summary>Which backend runs, in words.</summary>
    public static string Description => Probed.Value.Description;

    private static unsafe (IntPtr, string) Probe()
    {
        if (string.Equals(Environment.GetEnvironmentVariable("TEMPME_BLAS"), "managed", StringComparison.OrdinalIgnoreCase))
        {
            return (IntPtr.Zero, "managed GEMM (TensorPrimitives; forced by TEMPME_BLAS=managed)");
        }

        foreach (var candidate in Candidates)
        {
            if (!NativeLibrary.TryLoad(candidate, out var handle))
            {
                continue;
            }

            if (!NativeLibrary.TryGetExport(handle, "cblas_sgemm", out _))
            {
                NativeLibrary.Free(handle);
                continue;
            }

            var config = string.Empty;
            if (NativeLibrary.TryGetExport(handle, "openblas_get_config", out var configFn))
            {
                var text = ((delegate* unmanaged<byte*>)configFn)();
                config = text is null ? string.Empty : " (" + Marshal.PtrToStringUTF8((IntPtr)text) + ")";
            }

            var threads = string.Empty;
            if (NativeLibrary.TryGetExport(handle, "openblas_get_num_threads", out var threadsFn))
            {
                threads = $", {((delegate* unmanaged<int>)threadsFn)()} threads";
            }

            try
            {
                NativeLibrary.SetDllImportResolver(typeof(NativeLibraryProbe).Assembly, Resolve);
            }
            catch (InvalidOperationException)
            {
                // A resolver was already installed (only this class installs one), so it resolves to the same handle.
            }

            return (handle, $"OpenBLAS cblas_sgemm from {candidate}{config}{threads}");
        }

        return (IntPtr.Zero, "managed GEMM (TensorPrimitives; OpenBLAS libopenblas.so.0 not found)");
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
        => libraryName == NativeBlas.LibraryName ? Probed.Value.Handle : IntPtr.Zero;
}
