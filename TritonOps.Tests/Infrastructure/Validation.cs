using FluentAssertions.Specialized;

namespace TritonOps.Tests.Infrastructure;

public static class Validation
{
    /// <summary>Asserts <paramref name="call"/> throws <typeparamref name="TException"/> and allocated
    /// nothing on <paramref name="device"/> first (validation comes before allocation).</summary>
    public static ExceptionAssertions<TException> ThrowsBeforeAllocating<TException>(Device device, Action call) where TException : Exception
    {
        long before = device.AllocationCount;
        var assertion = call.Should().Throw<TException>();
        device.AllocationCount.Should().Be(before, "validation happens before allocation");
        return assertion;
    }
}
