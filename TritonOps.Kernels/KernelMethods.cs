using System.Collections.Concurrent;

namespace TritonOps.Kernels;

/// <summary>Memoized kernel instantiations: building a generic MethodInfo by reflection costs
/// microseconds, which a decode-sized launch (a few µs of GPU work) cannot afford on every call.</summary>
internal static class KernelMethods
{
    private static readonly ConcurrentDictionary<(Type Owner, string Name, Type? A, Type? B, Type? C, Type? D, Type? E, Type? F), MethodInfo> s_cache = new();

    /// <summary><paramref name="owner"/>.<paramref name="name"/>, instantiated with the given type arguments (none to six).</summary>
    public static MethodInfo Get(Type owner, string name, Type? a = null, Type? b = null, Type? c = null, Type? d = null, Type? e = null, Type? f = null) =>
        s_cache.GetOrAdd((owner, name, a, b, c, d, e, f), key =>
        {
            var method = key.Owner.GetMethod(key.Name) ?? throw new MissingMethodException(key.Owner.Name, key.Name);
            Type[] arguments = new[] { key.A, key.B, key.C, key.D, key.E, key.F }.TakeWhile(t => t is not null).Select(t => t!).ToArray();
            return arguments.Length == 0 ? method : method.MakeGenericMethod(arguments);
        });
}
