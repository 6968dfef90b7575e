namespace TritonOps;

/// <summary>How RoPE pairs a head's rotary dimensions.</summary>
public enum RotaryForm
{
    /// <summary>Dimension i with i + rotary_dim/2 (GPT-NeoX, Hugging Face Llama/Qwen/OLMo: <c>rotate_half</c>).</summary>
    RotateHalf,
    /// <summary>Dimension 2i with 2i + 1 (GPT-J, Meta's original Llama: <c>rotate_every_two</c>).</summary>
    Interleaved,
}

/// <summary>Where an RMSNorm rounds into a 16-bit dtype (float32 tensors round nowhere but float32 either way).</summary>
public enum NormRounding
{
    /// <summary><c>x · rsqrt(mean(x²) + eps) · w</c> in float32, rounded once: the more accurate form (FlashInfer's
    /// <c>rmsnorm</c>, Hugging Face's Gemma and OLMo2 norms, Liger's "gemma" casting mode).</summary>
    Once,
    /// <summary><c>x · rsqrt(mean(x²) + eps)</c> rounded into the dtype, then times the weight and rounded again: what
    /// Hugging Face's <c>LlamaRMSNorm</c> (and Mistral's, Qwen2's, Qwen3's) computes with <c>weight * x.to(dtype)</c>,
    /// vLLM's <c>rms_norm</c> and Liger's "llama" casting mode. Bit for bit with those models' norms on the CPU accelerator
    /// (on the GPU the reduction order and rsqrt.approx leave ulp-level differences); an FP8 model
    /// quantizes the norm's output, where one ulp moves an E4M3 code a whole step.</summary>
    Llama,
}

/// <summary>Where RoPE rounds into a 16-bit dtype.</summary>
public enum RopeRounding
{
    /// <summary>Float32 math from the norm's float32 value, rounded once at the store: the more accurate form (FlashInfer's
    /// and vLLM's fused kernels).</summary>
    Once,
    /// <summary>As PyTorch eager computes transformers' <c>(q * cos) + (rotate_half(q) * sin)</c>: the norm's output rounded
    /// into x's dtype, each product and the sum rounded into the dtype PyTorch promotes x's and the table's to (x's when
    /// the table is in x's dtype, as Llama, Qwen3, Gemma 3 and GPT-NeoX cast it; float32 for OLMo2's float32 table), the
    /// result into x's dtype. Bit for bit with those models' q and k on the CPU accelerator; runs on the general kernel.</summary>
    PerOp,
}

/// <summary>What an RMSNorm normalizes over before RoPE.</summary>
public enum NormScope
{
    /// <summary>The whole hidden size of the token (OLMo2's q_norm/k_norm; the seed's form): weight [hidden].</summary>
    Hidden,
    /// <summary>Each head on its own (Qwen3, Gemma 3): weight [head_dim].</summary>
    PerHead,
    /// <summary>No norm: RoPE alone.</summary>
    None,
}
