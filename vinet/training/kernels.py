"""Start-up checks of the kernels training relies on."""
import torch


def cpu_bf16_backward_is_sound(tries: int = 8) -> bool:
    """Whether this PyTorch computes a bf16 3D convolution's weight gradient on the CPU as fp32 does (within bf16's
    rounding). torch 2.14.1's oneDNN kernel was off by 1e25 to 1e37, NaN among them, on S3D's 208-channel (3, 1, 1)
    convolution of a 2-frame input (on a 2-core AMD EPYC), which turned every weight to NaN at the first step."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(4, 208, 2, 2, 4, generator=generator).bfloat16()
    weight = torch.randn(208, 208, 3, 1, 1, generator=generator).mul(0.05).bfloat16()

    def weight_gradient(dtype: torch.dtype) -> torch.Tensor:   # of the sum of the (3, 1, 1) convolution's outputs
        return torch.ops.aten.convolution_backward(
            torch.ones(4, 208, 2, 2, 4, dtype=dtype), inputs.to(dtype), weight.to(dtype), None, (1, 1, 1), (1, 0, 0),
            (1, 1, 1), False, (0, 0, 0), 1, (False, True, False))[1].float()

    expected = weight_gradient(torch.float32)
    for _ in range(tries):
        got = weight_gradient(torch.bfloat16)
        if not (torch.isfinite(got).all() and (got - expected).abs().max() <= 0.02 * expected.abs().max()):
            return False
    return True
