using System.Collections.Concurrent;

namespace TritonOps.Tests;

/// <summary>
/// The thread-safety contract (README, "Threads"): any op may be called from any thread; calls on one device
/// are issued one at a time (each op's allocations and launches stay together) and run in issue order, so
/// results do not depend on which threads call. Every public op (the valid calls of
/// <see cref="ErrorContractTests.Cases"/>) runs on several threads at once and must give the bytes of the
/// serial run; no buffer may stay in use afterwards; devices made and disposed meanwhile raise only the
/// documented exceptions.
/// </summary>
public class ConcurrencyTests(DeviceKind kind) : OnEveryDevice(kind)
{
    /// <summary>It counts every buffer in use on its device: a device of its own, so no other fixture's buffers count (fixtures ran two at a time until 12-07).</summary>
    protected override bool OwnsCudaDevice => true;

    /// <summary>Threads and rounds of each: on the CPU accelerator every launch takes one process-wide issue lock, so
    /// kernels never overlap there and more rounds add CI time (49 s for 4 × 3), not kernel interleavings; the host-side
    /// races (allocation, caches, validation) still meet with three threads. The GPU run keeps 4 × 3.</summary>
    private int Threads => Kind == DeviceKind.Cpu ? 3 : 4;

    private int Rounds => Kind == DeviceKind.Cpu ? 1 : 3;

    /// <summary>Rounds on the device disposed under the workers, and devices made and disposed meanwhile: on the CPU
    /// accelerator two and one (the dispose lands in the first round there too), on the GPU four and two.</summary>
    private int SharedRounds => Kind == DeviceKind.Cpu ? 2 : 4;

    private int OwnDevices => Kind == DeviceKind.Cpu ? 1 : 2;

    /// <summary>Ops a device made meanwhile runs: on the CPU accelerator the first eight cases (each kernel's first
    /// launch on a new CPU device pays its JIT again: ~4 s of CI's two cores for all of them, 12-07); on the GPU all.</summary>
    private int OwnDeviceCases => Kind == DeviceKind.Cpu ? 8 : int.MaxValue;

    private static byte[][] Bytes(object result) => result switch
    {
        Tensor t => [t.ToBytes()],
        ValueTuple<Tensor, Tensor> pair => [pair.Item1.ToBytes(), pair.Item2.ToBytes()],
        _ => throw new InvalidOperationException($"unexpected result {result.GetType()}"),
    };

    private static void DisposeResult(object result)
    {
        if (result is Tensor t)
            t.Dispose();
        else if (result is ValueTuple<Tensor, Tensor> pair)
        {
            pair.Item1.Dispose();
            pair.Item2.Dispose();
        }
    }

    /// <summary>Each case once on this thread, with its own inputs: the bytes of every result.</summary>
    private byte[][][] RunAll(Device device, int cases = int.MaxValue)
    {
        var results = new List<byte[][]>();
        foreach (var op in ErrorContractTests.Cases().Take(cases))
        {
            var inputs = op.Make(device);
            try
            {
                object result = op.Call(inputs);
                results.Add(Bytes(result));
                DisposeResult(result);
            }
            finally
            {
                foreach (var t in inputs.Values)
                    t.Dispose();
            }
        }
        return results.ToArray();
    }

    [Test]
    public void EveryOp_OnManyThreadsAtOnce_GivesTheSerialBytes_AndLeaksNoBuffer()
    {
        byte[][][] serial = RunAll(Device);
        long inUse = Device.BytesInUse - Device.ConstantBytes;
        var errors = new ConcurrentQueue<Exception>();
        var mismatches = new ConcurrentQueue<string>();
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            try
            {
                for (int round = 0; round < Rounds; round++)
                {
                    byte[][][] mine = RunAll(Device);
                    for (int i = 0; i < serial.Length; i++)
                        for (int j = 0; j < serial[i].Length; j++)
                            if (!mine[i][j].AsSpan().SequenceEqual(serial[i][j]))
                                mismatches.Enqueue($"thread {t} round {round}: {ErrorContractTests.Cases().ElementAt(i)} result {j} differs from the serial run");
                }
            }
            catch (Exception e)
            {
                errors.Enqueue(e);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        errors.Should().BeEmpty();
        mismatches.Should().BeEmpty();
        (Device.BytesInUse - Device.ConstantBytes).Should().Be(inUse,
            "every buffer the calls made went back to the device's cache (tensor maps, kept per operand address, aside)");
    }

    [Test]
    public void DevicesMadeAndDisposed_WhileOthersWork_RaiseOnlyDocumentedExceptions()
    {
        var unexpected = new ConcurrentQueue<Exception>();
        int refused = 0;
        var shared = Kind == DeviceKind.Cpu ? Device.Cpu() : Device.Cuda();
        // Workers issue ops on a device that the main thread disposes while they run; other workers make,
        // use and dispose devices of their own, and one keeps working on the fixture's device throughout.
        var workers = new List<Thread>
        {
            new(() => Guard(() => { for (int i = 0; i < SharedRounds; i++) RunAll(shared); })),
            new(() => Guard(() => { for (int i = 0; i < OwnDevices; i++) { using var own = Kind == DeviceKind.Cpu ? Device.Cpu() : Device.Cuda(); RunAll(own, OwnDeviceCases); } })),
            new(() => Guard(() => RunAll(Device))),
        };
        workers.ForEach(t => t.Start());
        Thread.Sleep(50);
        shared.Dispose();
        workers.ForEach(t => t.Join());
        unexpected.Should().BeEmpty();
        TestContext.Out.WriteLine($"calls refused after the dispose: {refused}");

        void Guard(Action work)
        {
            try
            {
                work();
            }
            catch (DeviceException)
            {
                Interlocked.Increment(ref refused); // the device went away under this worker: documented
            }
            catch (TensorDisposedException)
            {
                Interlocked.Increment(ref refused);
            }
            catch (Exception e)
            {
                unexpected.Enqueue(e);
            }
        }
    }
}
