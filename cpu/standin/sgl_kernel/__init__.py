"""STAND-IN for sgl_kernel, for serving on a CPU without SGLang's kernel build. Not the real package.

PyPI has no CPU build of sgl_kernel (the `sgl-kernel` wheels are CUDA builds
that need libcuda.so.1 and hold no `*_cpu` ops). SGLang's CPU engine imports
the names below at module load; with this package on PYTHONPATH the import
succeeds, every name raises if it is ever called, and nothing is registered
under torch.ops.sgl_kernel — so every layer runs SGLang's own torch-native
code. A chat + generate run calls none of them (checked with a call log; see
../shared/notes/sglang-on-cpu.md). For trying SGLang and for tests, never for
production.
"""

from __future__ import annotations

STANDIN = True  # lets a test or a log reader tell this from the real package


def _unavailable(name: str):
    def call(*args, **kwargs):
        raise NotImplementedError(
            f"sgl_kernel.{name}: this is the CPU stand-in (cpu/standin), which has no kernels; "
            "SGLang called a kernel that the CPU path was expected not to need"
        )

    call.__name__ = name
    return call


# Imported at module load by SGLang 0.5.23's CPU engine (file that imports each, in the notes).
_NAMES_0_5_23 = (
    "assign_req_to_token_pool_cpu",
    "copy_all_layer_kv_cache_cpu",
    "fill_accept_out_cache_loc_cpu",
    "fill_bonus_tokens_cpu",
    "rotate_input_ids_cpu",
    "assign_draft_cache_locs_contiguous_cpu",
    "assign_extend_cache_locs_cpu",
    "build_tree_kernel_efficient_cpu",
    "verify_tree_greedy_cpu",
)
for _name in _NAMES_0_5_23:
    globals()[_name] = _unavailable(_name)
del _name
