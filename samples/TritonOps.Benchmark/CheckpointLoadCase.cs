using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using TritonOps.SafeTensors;

namespace TritonOps.Benchmark;

/// <summary>
/// checkpoint_load: a safetensors file of <paramref name="tensors"/> bf16 tensors [rows, 8192] (≈ 1.5 GB at the
/// default) written to a temporary folder, read once to bring it into the page cache, then loaded whole to the device
/// (<see cref="SafeTensorsFile.LoadAll"/>: memory-mapped file → device) against a plain host-to-device copy of the same
/// number of bytes from a pageable managed array, in the same run. The bar (issue #19): loading at ≥ 70 % of that copy.
/// Wall-clock timing (host-issued, synchronous): median of <c>Runs</c> loads; the copy likewise. "% of copy" in the
/// table is against this host-to-device copy, not the device copy of the other rows.
/// </summary>
internal sealed class CheckpointLoadCase(int tensors = 12, int rows = 8192) : IBenchmarkCase
{
    private const int Cols = 8192, Runs = 5;

    public string Op => "checkpoint_load";

    public Result Run(Device device, GpuTimer timer, double copyGbs)
    {
        string folder = Path.Combine(Path.GetTempPath(), "tritonops-load-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, "model.safetensors");
        try
        {
            long bytes;
            using (var one = Tensor.Full([rows, Cols], 0.5f, DType.BFloat16, device))
            {
                var all = Enumerable.Range(0, tensors).ToDictionary(i => $"model.layers.{i}.mlp.weight", _ => one);
                SafeTensorsFile.Save(path, all);
                bytes = (long)tensors * one.ByteCount;
            }
            // Into the page cache: one sequential read of the whole file.
            using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
            {
                byte[] sink = new byte[8 << 20];
                while (stream.Read(sink, 0, sink.Length) > 0) { }
            }

            var load = new double[Runs];
            for (int r = 0; r < Runs; r++)
            {
                var clock = Stopwatch.StartNew();
                using var file = SafeTensorsFile.Open(path);
                var loaded = file.LoadAll(device);
                device.Synchronize();
                load[r] = clock.Elapsed.TotalMicroseconds;
                foreach (var t in loaded.Values)
                    t.Dispose();
            }

            // The same bytes from pageable host memory in one synchronous copy (what the driver does for any pageable source).
            var copy = new double[Runs];
            byte[] source = new byte[bytes];
            Array.Fill(source, (byte)0x3F);
            using (var destination = device.Accelerator.Allocate1D<byte>(bytes))
                for (int r = 0; r < Runs; r++)
                {
                    device.Synchronize();
                    var clock = Stopwatch.StartNew();
                    unsafe
                    {
                        fixed (byte* host = source) // pinned: ILGPU copies from the raw address
                            destination.View.CopyFromCPU(ref *host, bytes);
                    }
                    device.Synchronize();
                    copy[r] = clock.Elapsed.TotalMicroseconds;
                }
            Array.Sort(load);
            Array.Sort(copy);
            double loadGbs = bytes / (load[Runs / 2] * 1e-6) / 1e9, hostCopyGbs = bytes / (copy[Runs / 2] * 1e-6) / 1e9;
            double percent = 100 * loadGbs / hostCopyGbs;
            var stats = new Stats(load[Runs / 2], load[0], load[^1], Runs, load[Runs / 2], QueueHeld: true);
            return new Result(Op, $"{tensors} × [{rows},{Cols}] bf16, {bytes / 1e9:F2} GB, page cache → device", "bfloat16", stats,
                $"{loadGbs:F1} GB/s (host→device copy {hostCopyGbs:F1} GB/s)", $"{percent:F0} % of H2D",
                percent >= 70 ? "ok" : $"BELOW BAR: {percent:F0} % < 70 % of the host-to-device copy");
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }
}
