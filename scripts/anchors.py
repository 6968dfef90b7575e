#!/usr/bin/env python3
"""PyTorch anchors for the TritonOps benchmark's standing rows, measured the way the benchmark measures ours.

    python3 scripts/anchors.py --json anchors.json [--only NAME] [--no-compile] [--runs N] [--compile-mode MODE]

Runs on the GPU machine (PyTorch with CUDA; triton for torch.compile; nothing else). Each anchor is keyed like a
row of samples/TritonOps.Benchmark (op, shape and dtype strings exactly as BenchmarkCases.All() and the *Case.cs
files print them), so `TritonOps.Benchmark --report DIR --anchors anchors.json` can join them:
  fused_rmsnorm_rope  HF LlamaRMSNorm then HF rotate-half RoPE: eager, and torch.compile of the same function
  fused_gated_mlp     silu(x @ G.T) * (x @ U.T): eager and torch.compile
  fp8_gemm            torch._scaled_mm, e4m3 operands, per-tensor float32 scales, bf16 out (b = the [N, K]
                      weight's transposed view, as ours); at 8192³ also the bf16 a @ b.t() GEMM ("context");
                      row-wise (scale_a [M, 1], scale_b [1, N]) at 8192³ and M16 N14336 K4096 (issue #18)
  quantize_fp8        per tensor, amax / 448 computed on the device (and with the scale given): eager and compiled
  decoder_layer       a Llama-3-8B LlamaDecoderLayer without attention (its output given), as transformers writes it:
                      eager and torch.compile (DecoderLayerCase; prefill [1,4096] and decode [64,1])
  floor               a device-to-device copy (Tensor.copy_) of the floor rows' bytes
Method (as samples/TritonOps.Benchmark/Timing.cs): warm-up (the first call compiles), then each of --runs runs
(default 100, at least 50) between its own pair of CUDA events, all queued behind a spin kernel
(torch.cuda._sleep) that holds the GPU until the host has queued them, so the events time the GPU, not the
host's launch rate; the median and p10/p90. Inputs rotate through enough copies that one pass over them is at
least 3x the 60 MB L2 (the benchmark's SetsToDefeatL2), so memory-bound runs read from device memory.
The JSON is rewritten after every case, so a run cut short keeps the cases before it.
"""
import argparse
import datetime
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

L2_BYTES = 60_000_000  # H200: 60 MB (BenchmarkCases.SetsToDefeatL2 uses the same number)
E4M3_MAX = 448.0


def sets_to_defeat_l2(bytes_per_run):
    """BenchmarkCases.SetsToDefeatL2: distinct input sets so one pass over them is >= 3x the L2."""
    return int(min(max(3 * L2_BYTES // max(bytes_per_run, 1) + 1, 2), 512))


DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


class GpuTimer:
    """Timing.cs's GpuTimer: CUDA events per run, the queue held ahead of the GPU by a spin kernel."""

    def __init__(self):
        torch.cuda._sleep(1000)
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        torch.cuda._sleep(1_000_000)
        end.record()
        torch.cuda.synchronize()
        self.ns_per_cycle = max(0.01, start.elapsed_time(end) * 1e6 / 1_000_000)

    def time(self, run, warmup=10, runs=100):
        run(0)  # first call: compiles (torch.compile), autotunes, allocates
        torch.cuda.synchronize()
        clock = time.perf_counter()
        for i in range(1, warmup):
            run(i)
        host_us_per_call = (time.perf_counter() - clock) * 1e6 / max(1, warmup - 1)
        torch.cuda.synchronize()

        spin_us = 2 * runs * host_us_per_call + 1000
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(runs)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(runs)]
        torch.cuda._sleep(int(spin_us * 1000 / self.ns_per_cycle))
        clock = time.perf_counter()
        for i in range(runs):
            starts[i].record()
            run(warmup + i)
            ends[i].record()
        queue_held = (time.perf_counter() - clock) * 1e6 < spin_us
        torch.cuda.synchronize()
        us = sorted(s.elapsed_time(e) * 1000 for s, e in zip(starts, ends))
        return {"us": us[runs // 2], "p10": us[runs // 10], "p90": us[runs * 9 // 10], "runs": runs, "queueHeld": queue_held}


def tbs(nbytes, us):
    return f"{nbytes / (us * 1e-6) / 1e12:.2f} TB/s"


def tflops_and_tbs(flops, nbytes, us):
    return f"{flops / (us * 1e-6) / 1e12:.0f} TFLOP/s ({nbytes / (us * 1e-6) / 1e12:.2f} TB/s)"


def uniform(shape, lo, hi, dtype, generator):
    return (torch.rand(shape, device="cuda", generator=generator, dtype=torch.float32) * (hi - lo) + lo).to(dtype)


# --- the PyTorch versions of the ops ----------------------------------------------------------------------------

def rmsnorm_rope(x, weight, cos, sin, eps, head_dim):
    """Hugging Face LlamaRMSNorm (float32 statistics, cast back, times the weight) then rotate-half RoPE
    (q * cos + rotate_half(q) * sin, cos/sin [seq, head_dim] broadcast over batch and heads)."""
    dtype = x.dtype
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    h = weight * h.to(dtype)
    b, s, hidden = h.shape
    q = h.view(b, s, hidden // head_dim, head_dim)
    c, sn = cos[None, :, None, :], sin[None, :, None, :]
    x1, x2 = q[..., : head_dim // 2], q[..., head_dim // 2:]
    rotated = torch.cat((-x2, x1), dim=-1)
    return (q * c + rotated * sn).view(b, s, hidden)


def qk_norm_rope(q, k, q_weight, k_weight, cos_table, sin_table, positions, eps, head_dim, per_head):
    """Qwen3 / OLMo2 as transformers writes them: RMSNorm in float32 (per head, or over the row), weight * x.to(dtype),
    then apply_rotary_pos_emb with cos/sin = the float32 table's rows at the positions (q * cos + rotate_half(q) * sin,
    promoted to float32 by the table, then back to the input dtype)."""
    def norm_rope(x, weight):
        dtype = x.dtype
        b, s, hidden = x.shape
        h = x.view(b, s, hidden // head_dim, head_dim) if per_head else x
        hf = h.float()
        hf = hf * torch.rsqrt(hf.pow(2).mean(-1, keepdim=True) + eps)
        h = (weight * hf.to(dtype)).view(b, s, hidden // head_dim, head_dim)
        c, sn = cos_table[positions][:, :, None, :], sin_table[positions][:, :, None, :]
        x1, x2 = h[..., : head_dim // 2], h[..., head_dim // 2:]
        rotated = torch.cat((-x2, x1), dim=-1)
        return (h * c + rotated * sn).to(dtype).view(b, s, hidden)
    return norm_rope(q, q_weight) if k is None else (norm_rope(q, q_weight), norm_rope(k, k_weight))


def gated_mlp(x, gate, up):
    return F.silu(x @ gate.T) * (x @ up.T)


def llama_layer_without_attention(x, positions, attn, w, cos_table, sin_table, eps=1e-5, head_dim=128):
    """LlamaDecoderLayer as transformers writes it, attention's output given (DecoderLayerCase): input_layernorm, q/k/v,
    RoPE at the positions (float32 table rows, as the rotary module's), o_proj + residual, post_attention_layernorm,
    silu-gated MLP, down_proj + residual. Returns q and k after RoPE and v too, so nothing is dead code to the compiler."""
    def norm(h, weight):
        dtype = h.dtype
        hf = h.float()
        hf = hf * torch.rsqrt(hf.pow(2).mean(-1, keepdim=True) + eps)
        return weight * hf.to(dtype)

    def rope(t):
        b, s, width = t.shape
        th = t.view(b, s, width // head_dim, head_dim)
        c, sn = cos_table[positions][:, :, None, :], sin_table[positions][:, :, None, :]
        x1, x2 = th[..., : head_dim // 2], th[..., head_dim // 2:]
        return (th * c + torch.cat((-x2, x1), dim=-1) * sn).to(t.dtype).view(b, s, width)

    h = norm(x, w["input_layernorm"])
    q, k, v = rope(F.linear(h, w["q_proj"])), rope(F.linear(h, w["k_proj"])), F.linear(h, w["v_proj"])
    h1 = x + F.linear(attn, w["o_proj"])
    n = norm(h1, w["post_attention_layernorm"])
    out = h1 + F.linear(F.silu(F.linear(n, w["gate_proj"])) * F.linear(n, w["up_proj"]), w["down_proj"])
    return out, q, k, v


def quantize_per_tensor(x):
    """Our contract: scale = amax / 448 (1 for an all-zero tensor), q = saturate(x * (1 / scale)) as e4m3."""
    amax = x.abs().amax().float()
    scale = torch.where(amax > 0, amax / E4M3_MAX, torch.ones_like(amax))
    q = (x.float() * (1.0 / scale)).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn)
    return q, scale


def quantize_per_row(x):
    """Per row (per token of a, per output channel of a weight): scales [rows, 1], same contract as per tensor."""
    amax = x.abs().amax(dim=1, keepdim=True).float()
    scale = torch.where(amax > 0, amax / E4M3_MAX, torch.ones_like(amax))
    q = (x.float() * (1.0 / scale)).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn)
    return q, scale


def quantize_given_scale(x, scale):
    return (x.float() * (1.0 / scale)).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn)


# --- the cases: one function per op, each yielding anchors ---------------------------------------------------------

class Anchors:
    def __init__(self, args):
        self.args = args
        self.timer = GpuTimer()
        self.generator = torch.Generator(device="cuda")
        self.generator.manual_seed(0)
        self.results = []

    def variants(self, fn):
        """(name, callable) for eager and, unless --no-compile, torch.compile of fn (fresh, static shapes)."""
        yield "torch eager", fn
        if not self.args.no_compile:
            torch._dynamo.reset()  # each case compiles for its own static shapes
            yield "torch.compile", torch.compile(fn, dynamic=False, mode=self.args.compile_mode)

    def add(self, op, shape, dtype, name, stats, rate, role="anchor"):
        row = {"op": op, "shape": shape, "dtype": dtype, "name": name, "role": role, **stats, "rate": rate(stats["us"])}
        self.results.append(row)
        held = "" if stats["queueHeld"] else " (queuing outlasted the spin: includes host gaps)"
        print(f"# {op} {shape} {dtype} | {name}: {stats['us']:.1f} us, {row['rate']}{held}", flush=True)

    def wanted(self, op):
        return self.args.only is None or self.args.only.lower() in op.lower()

    def rmsnorm_rope(self, batch, seq, hidden, head_dim, dtype_name):
        op = "fused_rmsnorm_rope"
        dtype, size = DTYPES[dtype_name], torch.finfo(DTYPES[dtype_name]).bits // 8
        x_bytes = batch * seq * hidden * size
        nbytes = 2 * x_bytes + hidden * size + 2 * seq * head_dim * size
        sets = sets_to_defeat_l2(2 * x_bytes)
        xs = [uniform((batch, seq, hidden), -2, 2, dtype, self.generator) for _ in range(sets)]
        weight = uniform((hidden,), 0.5, 1.5, dtype, self.generator)
        # A Hugging Face RoPE table (base 10000): angle p * 10000^(-2j / head_dim), the half repeated.
        inv_freq = 10000.0 ** (-torch.arange(0, head_dim, 2, device="cuda", dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(seq, device="cuda", dtype=torch.float32), inv_freq)
        angles = torch.cat((angles, angles), dim=-1)
        cos, sin = angles.cos().to(dtype), angles.sin().to(dtype)
        for name, fn in self.variants(rmsnorm_rope):
            stats = self.timer.time(lambda i: fn(xs[i % sets], weight, cos, sin, 1e-6, head_dim), runs=self.args.runs)
            self.add(op, f"[{batch},{seq},{hidden}] hd{head_dim}", dtype_name, name, stats, lambda us: tbs(nbytes, us))

    def qk_norm_rope(self, batch, seq, q_heads, k_heads, head_dim, per_head, dtype_name, table_rows=8192):
        """QkNormRopeCase: shape string and bytes as that case prints and counts them."""
        op = "fused_qk_norm_rope" if k_heads > 0 else "fused_rmsnorm_rope positions"
        dtype, size = DTYPES[dtype_name], torch.finfo(DTYPES[dtype_name]).bits // 8
        tokens = batch * seq
        q_bytes, k_bytes = tokens * q_heads * head_dim * size, tokens * k_heads * head_dim * size
        nbytes = 2 * (q_bytes + k_bytes) + tokens * head_dim * 4 * 2 + (2 * head_dim if per_head else (q_heads + k_heads) * head_dim) * size
        sets = sets_to_defeat_l2(2 * (q_bytes + k_bytes))
        qs = [uniform((batch, seq, q_heads * head_dim), -2, 2, dtype, self.generator) for _ in range(sets)]
        ks = [uniform((batch, seq, k_heads * head_dim), -2, 2, dtype, self.generator) for _ in range(sets)] if k_heads else [None] * sets
        qw = uniform((head_dim if per_head else q_heads * head_dim,), 0.5, 1.5, dtype, self.generator)
        kw = uniform((head_dim if per_head else max(1, k_heads * head_dim),), 0.5, 1.5, dtype, self.generator)
        angles = uniform((table_rows, head_dim), -3.2, 3.2, torch.float32, self.generator)
        cos_table, sin_table = angles.cos(), angles.sin()
        positions = torch.randint(0, table_rows, (batch, seq), device="cuda", generator=self.generator)
        scope = "PerHead" if per_head else "Hidden"
        shape = f"[{batch},{seq}] q {q_heads}{f' k {k_heads}' if k_heads else ''} × hd{head_dim} {scope}, fp32 table, positions"
        for name, fn in self.variants(qk_norm_rope):
            stats = self.timer.time(lambda i: fn(qs[i % sets], ks[i % sets], qw, kw, cos_table, sin_table, positions, 1e-6, head_dim, per_head),
                                    runs=self.args.runs)
            self.add(op, shape, dtype_name, name, stats, lambda us: tbs(nbytes, us))

    def gated_mlp(self, m, hidden, intermediate, dtype_name):
        op = "fused_gated_mlp"
        dtype, size = DTYPES[dtype_name], torch.finfo(DTYPES[dtype_name]).bits // 8
        nbytes = (m * hidden + 2 * intermediate * hidden + m * intermediate) * size
        sets = sets_to_defeat_l2(nbytes)
        weight_sets = min(sets, max(1, 4_000_000_000 // (2 * intermediate * hidden * size)))
        bound = 1 / math.sqrt(hidden)
        xs = [uniform((1, m, hidden), -1.5, 1.5, dtype, self.generator) for _ in range(sets)]
        gates = [uniform((intermediate, hidden), -bound, bound, dtype, self.generator) for _ in range(weight_sets)]
        ups = [uniform((intermediate, hidden), -bound, bound, dtype, self.generator) for _ in range(weight_sets)]
        flops = 4 * m * hidden * intermediate
        for name, fn in self.variants(gated_mlp):
            stats = self.timer.time(lambda i: fn(xs[i % sets], gates[i % weight_sets], ups[i % weight_sets]), warmup=5, runs=self.args.runs)
            self.add(op, f"M{m} H{hidden} I{intermediate}", dtype_name, name, stats, lambda us: tflops_and_tbs(flops, nbytes, us))

    def linear(self, m, in_features, out_features, residual=False):
        """LinearCase: F.linear (cuBLAS) and, with a residual, the add after it; eager and compiled."""
        op, dtype = "linear", torch.bfloat16
        nbytes = (m * in_features + out_features * in_features + (2 if residual else 1) * m * out_features) * 2
        sets = sets_to_defeat_l2(nbytes)
        weight_sets = min(sets, max(1, 4_000_000_000 // (out_features * in_features * 2)))
        xs = [uniform((m, in_features), -1.5, 1.5, dtype, self.generator) for _ in range(sets)]
        bound = 1 / math.sqrt(in_features)
        ws = [uniform((out_features, in_features), -bound, bound, dtype, self.generator) for _ in range(weight_sets)]
        r = uniform((m, out_features), -1, 1, dtype, self.generator) if residual else None
        flops = 2 * m * in_features * out_features
        fn = (lambda x, w, r: F.linear(x, w) + r) if residual else (lambda x, w, r: F.linear(x, w))
        for name, f in self.variants(fn):
            stats = self.timer.time(lambda i: f(xs[i % sets], ws[i % weight_sets], r), warmup=5, runs=self.args.runs)
            self.add(op, f"M{m} in{in_features} out{out_features}{' +residual' if residual else ''}", "bfloat16", name, stats,
                     lambda us: tflops_and_tbs(flops, nbytes, us))

    def fp8_gemm(self, m, n, k, with_bf16=False, rowwise=False):
        op, shape, dtype_name = "fp8_gemm", f"M{m} N{n} K{k}{' row-wise' if rowwise else ''}", "e4m3→bfloat16"
        nbytes = m * k + n * k + m * n * 2
        sets = sets_to_defeat_l2(nbytes)
        flops = 2 * m * n * k
        quantize = quantize_per_row if rowwise else quantize_per_tensor
        a, a_scale = quantize(uniform((m, k), -2, 2, torch.bfloat16, self.generator))
        w, w_scale = quantize(uniform((n, k), -0.05, 0.05, torch.bfloat16, self.generator))
        if rowwise:
            w_scale = w_scale.t().contiguous()  # torch._scaled_mm's row-wise scale_b is [1, N]
        a_sets = [a] + [a.clone() for _ in range(sets - 1)]
        # b as the transposed view of the [N, K] weight: the column-major operand cuBLASLt's FP8 GEMM wants.
        b_sets = [w.t()] + [w.clone().t() for _ in range(sets - 1)]
        stats = self.timer.time(lambda i: torch._scaled_mm(a_sets[i % sets], b_sets[i % sets], scale_a=a_scale, scale_b=w_scale,
                                                           out_dtype=torch.bfloat16), warmup=5, runs=self.args.runs)
        self.add(op, shape, dtype_name, "torch._scaled_mm", stats, lambda us: tflops_and_tbs(flops, nbytes, us))
        if with_bf16:
            del a_sets, b_sets
            bf16_bytes = 2 * (m * k + n * k + m * n)
            bf16_sets = sets_to_defeat_l2(bf16_bytes)
            xa = [uniform((m, k), -2, 2, torch.bfloat16, self.generator) for _ in range(bf16_sets)]
            xb = [uniform((n, k), -0.05, 0.05, torch.bfloat16, self.generator) for _ in range(bf16_sets)]
            stats = self.timer.time(lambda i: xa[i % bf16_sets] @ xb[i % bf16_sets].t(), warmup=5, runs=self.args.runs)
            self.add(op, shape, dtype_name, "torch bf16 a @ b.t()", stats, lambda us: tflops_and_tbs(flops, bf16_bytes, us), role="context")

    def quantize_fp8(self, rows, cols, dtype_name, given_scale=False):
        op = "quantize_fp8"
        dtype, size = DTYPES[dtype_name], torch.finfo(DTYPES[dtype_name]).bits // 8
        count = rows * cols
        nbytes = count * size + count
        sets = sets_to_defeat_l2(nbytes)
        xs = [uniform((rows, cols), -3, 3, dtype, self.generator) for _ in range(sets)]
        if given_scale:
            _, scale = quantize_per_tensor(xs[0])
            for name, fn in self.variants(quantize_given_scale):
                stats = self.timer.time(lambda i: fn(xs[i % sets], scale), warmup=5, runs=self.args.runs)
                self.add(op, f"[{rows},{cols}] per-tensor, scale given", dtype_name, name, stats, lambda us: tbs(nbytes, us))
        else:
            for name, fn in self.variants(quantize_per_tensor):
                stats = self.timer.time(lambda i: fn(xs[i % sets]), warmup=5, runs=self.args.runs)
                self.add(op, f"[{rows},{cols}] per-tensor", dtype_name, name, stats, lambda us: tbs(nbytes, us))

    def decoder_layer(self, batch, seq, hidden=4096, heads=32, kv_heads=8, head_dim=128, intermediate=14336, table_rows=8192):
        """DecoderLayerCase: one Llama-3-8B layer without attention, eager and compiled; shape string and counts as that case's."""
        op, dtype, size = "decoder_layer", torch.bfloat16, 2
        tokens = batch * seq
        qkv = (heads + 2 * kv_heads) * head_dim
        weight_elements = hidden * qkv + heads * head_dim * hidden + 3 * hidden * intermediate + 2 * hidden
        activation_elements = tokens * (2 * hidden + 2 * qkv + heads * head_dim + 4 * hidden + 2 * intermediate)
        nbytes = (weight_elements + activation_elements) * size
        flops = 2 * tokens * (hidden * qkv + heads * head_dim * hidden + 3 * hidden * intermediate)
        def matrix(rows, cols):
            bound = 1 / math.sqrt(cols)
            return uniform((rows, cols), -bound, bound, dtype, self.generator)
        w = {"input_layernorm": uniform((hidden,), 0.5, 1.5, dtype, self.generator),
             "post_attention_layernorm": uniform((hidden,), 0.5, 1.5, dtype, self.generator),
             "q_proj": matrix(heads * head_dim, hidden), "k_proj": matrix(kv_heads * head_dim, hidden),
             "v_proj": matrix(kv_heads * head_dim, hidden), "o_proj": matrix(hidden, heads * head_dim),
             "gate_proj": matrix(intermediate, hidden), "up_proj": matrix(intermediate, hidden), "down_proj": matrix(hidden, intermediate)}
        inv_freq = 1.0 / (500000.0 ** (torch.arange(0, head_dim, 2, device="cuda", dtype=torch.float32) / head_dim))
        angles = torch.outer(torch.arange(table_rows, device="cuda", dtype=torch.float32), inv_freq)
        angles = torch.cat((angles, angles), dim=-1)
        cos_table, sin_table = angles.cos(), angles.sin()
        if seq > 1:
            positions = torch.arange(seq, device="cuda").repeat(batch, 1)
        else:
            positions = ((37 * torch.arange(tokens, device="cuda") + 11) % table_rows).view(batch, seq)
        sets = min(sets_to_defeat_l2(activation_elements * size), 8)
        xs = [uniform((batch, seq, hidden), -2, 2, dtype, self.generator) for _ in range(sets)]
        attn = uniform((batch, seq, heads * head_dim), -1, 1, dtype, self.generator)
        shape = f"llama [{batch},{seq}] H{hidden} q{heads} kv{kv_heads} hd{head_dim} I{intermediate} (no attention)"
        for name, fn in self.variants(llama_layer_without_attention):
            stats = self.timer.time(lambda i: fn(xs[i % sets], positions, attn, w, cos_table, sin_table), warmup=5, runs=self.args.runs)
            self.add(op, shape, "bfloat16", name, stats, lambda us: tflops_and_tbs(flops, nbytes, us))

    def copy(self, copy_bytes):
        """FloorCase's driver copy of copy_bytes; shape string as FloorCase prints it."""
        sets = sets_to_defeat_l2(2 * copy_bytes)
        sources = [torch.ones(copy_bytes, dtype=torch.uint8, device="cuda") for _ in range(sets)]
        destinations = [torch.empty(copy_bytes, dtype=torch.uint8, device="cuda") for _ in range(sets)]
        stats = self.timer.time(lambda i: destinations[i % sets].copy_(sources[i % sets]), runs=self.args.runs)
        mb = f"{copy_bytes / 1e6:.0f}"
        self.add("floor", f"copy {mb} MB → {mb} MB", "bytes", "torch copy_", stats, lambda us: tbs(2 * copy_bytes, us))

    def copy_gbs(self):
        """The benchmark's ceiling (Program.cs MeasureCopy): a 1 GiB device-to-device copy, read + write counted."""
        n = 1 << 30
        source, destination = torch.ones(n, dtype=torch.uint8, device="cuda"), torch.empty(n, dtype=torch.uint8, device="cuda")
        stats = self.timer.time(lambda i: destination.copy_(source), warmup=3, runs=max(50, self.args.runs // 2))
        return 2.0 * n / (stats["us"] * 1e-6) / 1e9

    def cases(self):
        """BenchmarkCases.All()'s standing rows that PyTorch can do (A/B variants pinned to one of our kernels have
        no anchor of their own; the report leaves them without one)."""
        yield "fp8_gemm", lambda: self.fp8_gemm(8192, 8192, 8192, with_bf16=True)
        yield "fp8_gemm", lambda: self.fp8_gemm(4096, 4096, 4096)
        for m in (16, 64, 128):
            yield "fp8_gemm", lambda m=m: self.fp8_gemm(m, 14336, 4096)
        # Issue #18: row-wise (per-token a, per-channel weight) through torch._scaled_mm. Block scales (1x128 / 128x128)
        # get no anchor: PyTorch's blockwise _scaled_mm needs its own scale layouts and CUDA builds, and eager
        # dequantize-then-matmul is not a fair one.
        yield "fp8_gemm", lambda: self.fp8_gemm(8192, 8192, 8192, rowwise=True)
        yield "fp8_gemm", lambda: self.fp8_gemm(16, 14336, 4096, rowwise=True)
        for dtype in ("bfloat16", "float16", "float32"):
            yield "quantize_fp8", lambda dtype=dtype: self.quantize_fp8(8192, 8192, dtype)
        yield "quantize_fp8", lambda: self.quantize_fp8(8192, 8192, "bfloat16", given_scale=True)
        yield "quantize_fp8", lambda: self.quantize_fp8(4096, 4096, "bfloat16")
        yield "linear", lambda: self.linear(8192, 8192, 8192)
        yield "linear", lambda: self.linear(16, 14336, 4096, residual=True)
        yield "linear", lambda: self.linear(4096, 14336, 4096, residual=True)
        # The decoder layer's decode products at M64 (o with its residual, q/k/v as one, k or v alone, down): cuBLAS's
        # time for each, beside Linear's sweep rows 11, 31, 29 and 13. A name without "linear", so `--only linear` (the
        # bar rows' timeouts) does not take them.
        for m, k, n, residual in ((64, 4096, 4096, True), (64, 4096, 6144, False), (64, 4096, 1024, False), (64, 14336, 4096, True)):
            yield "m64_products", lambda m=m, k=k, n=n, residual=residual: self.linear(m, k, n, residual=residual)
        for m in (8192, 16, 1, 64, 128, 1024):
            yield "fused_gated_mlp", lambda m=m: self.gated_mlp(m, 4096, 14336, "bfloat16")
        yield "fused_gated_mlp", lambda: self.gated_mlp(8192, 4096, 14336, "float16")
        for dtype in ("bfloat16", "float16"):
            yield "fused_rmsnorm_rope", lambda dtype=dtype: self.rmsnorm_rope(4, 2048, 4096, 128, dtype)
            yield "fused_rmsnorm_rope", lambda dtype=dtype: self.rmsnorm_rope(1, 8192, 8192, 128, dtype)
            yield "fused_rmsnorm_rope", lambda dtype=dtype: self.rmsnorm_rope(64, 1, 4096, 128, dtype)
        yield "fused_rmsnorm_rope", lambda: self.rmsnorm_rope(4, 2048, 4096, 128, "float32")
        yield "fused_rmsnorm_rope", lambda: self.rmsnorm_rope(8, 2048, 4096, 128, "bfloat16")
        yield "fused_rmsnorm_rope positions", lambda: self.qk_norm_rope(4, 2048, 32, 0, 128, False, "bfloat16")
        yield "fused_qk_norm_rope", lambda: self.qk_norm_rope(64, 1, 32, 8, 128, True, "bfloat16", table_rows=4096)
        yield "decoder_layer", lambda: self.decoder_layer(1, 4096)
        yield "decoder_layer", lambda: self.decoder_layer(64, 1)
        yield "floor", lambda: self.copy(4 * 2048 * 4096 * 2)
        yield "floor", lambda: self.copy(8192 * 8192 * 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, help="where to write the anchors (rewritten after every case)")
    parser.add_argument("--only", help="only ops whose name contains this (fp8_gemm, quantize_fp8, fused_gated_mlp, fused_rmsnorm_rope, floor)")
    parser.add_argument("--no-compile", action="store_true", help="eager only (torch.compile takes a few seconds a case)")
    parser.add_argument("--runs", type=int, default=100, help="timed runs a case (at least 50; default 100)")
    parser.add_argument("--compile-mode", default=None, help="torch.compile mode (default: PyTorch's default; e.g. max-autotune)")
    args = parser.parse_args()
    if args.runs < 50:
        parser.error("--runs must be at least 50")
    if not torch.cuda.is_available():
        print("No CUDA GPU found: the anchors only run on CUDA.", file=sys.stderr)
        return 2

    try:
        import triton
        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    anchors = Anchors(args)
    gpu = torch.cuda.get_device_name()
    copy_gbs = anchors.copy_gbs()
    header = {"gpu": gpu, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(), "torch": torch.__version__,
              "triton": triton_version, "cuda": torch.version.cuda, "copyGBs": copy_gbs,
              "method": "CUDA events per run behind a spin kernel, median of --runs; inputs rotated past the L2 (scripts/anchors.py)",
              "runs": args.runs, "compileMode": args.compile_mode or "default"}
    print(f"# PyTorch anchors — {gpu}, torch {torch.__version__}, triton {triton_version}; device copy {copy_gbs:.0f} GB/s", flush=True)

    def write():
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({**header, "anchors": anchors.results}, f, indent=2, ensure_ascii=False)

    failed = 0
    for op, case in anchors.cases():
        if not anchors.wanted(op):
            continue
        clock = time.perf_counter()
        try:
            case()
        except Exception as e:  # one case failing (e.g. out of memory, a compile error) must not lose the others
            failed += 1
            print(f"# FAILED {op}: {type(e).__name__}: {e}", flush=True)
        torch.cuda.empty_cache()
        write()
        print(f"#   ({time.perf_counter() - clock:.1f} s)", flush=True)
    write()
    print(f"# {len(anchors.results)} anchors written to {args.json}, {failed} cases failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
