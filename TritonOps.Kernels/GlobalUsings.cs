// The namespaces most kernel files use, once for the project (each file names only the rare ones).
global using System.Reflection;
global using ILGPU;
global using ILGPU.Runtime.Cuda;
global using TritonOps.Kernels.Activations;
global using TritonOps.Kernels.Common;
global using TritonOps.Kernels.Elements;
global using TritonOps.Kernels.Fp8Gemm;
global using TritonOps.Kernels.FusedGatedMlp;
global using TritonOps.Kernels.Gemm;
global using TritonOps.Kernels.Numerics;
global using TritonOps.Kernels.Ptx;
global using TritonOps.Kernels.QuantizeFp8;
