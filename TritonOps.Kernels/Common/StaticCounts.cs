namespace TritonOps.Kernels.Common;

/// <summary>A small count as a type (rows a step, pairs a thread, …), so a kernel instantiated with it sees a constant:
/// loops over it unroll and branches on it fold away.</summary>
internal interface IStaticCount
{
    static abstract int Count { get; }
}

internal struct One : IStaticCount
{
    public static int Count => 1;
}

internal struct Two : IStaticCount
{
    public static int Count => 2;
}

internal struct Three : IStaticCount
{
    public static int Count => 3;
}

internal struct Four : IStaticCount
{
    public static int Count => 4;
}

internal struct Five : IStaticCount
{
    public static int Count => 5;
}

internal struct Eight : IStaticCount
{
    public static int Count => 8;
}
