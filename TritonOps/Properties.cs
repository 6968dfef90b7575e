using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("TritonOps.Tests")]
[assembly: InternalsVisibleTo("TritonOps.Benchmark")]
