namespace TritonOps;

/// <summary>How RoPE pairs a head's rotary dimensions.</summary>
public enum RotaryForm
{
    /// <summary>Dimension i with i + rotary_dim/2 (GPT-NeoX, Hugging Face Llama/Qwen/OLMo: <c>rotate_half</c>).</summary>
    RotateHalf,
    /// <summary>Dimension 2i with 2i + 1 (GPT-J, Meta's original Llama: <c>rotate_every_two</c>).</summary>
    Interleaved,
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
