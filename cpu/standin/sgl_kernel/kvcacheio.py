"""STAND-IN for sgl_kernel.kvcacheio (see the package docstring): names SGLang 0.5.9 imports, each raising if called.

0.5.9 imports these in srt/mem_cache/memory_pool_host.py on every platform but NPU/XPU;
they move KV cache to and from host memory (hierarchical cache), which a CPU server
without --enable-hierarchical-cache never does.
"""

from sgl_kernel import _unavailable

_NAMES = (
    "transfer_kv_all_layer",
    "transfer_kv_all_layer_direct_lf_pf",
    "transfer_kv_all_layer_lf_pf",
    "transfer_kv_all_layer_lf_ph",
    "transfer_kv_all_layer_mla",
    "transfer_kv_all_layer_mla_lf_pf",
    "transfer_kv_direct",
    "transfer_kv_per_layer",
    "transfer_kv_per_layer_direct_pf_lf",
    "transfer_kv_per_layer_mla",
    "transfer_kv_per_layer_mla_pf_lf",
    "transfer_kv_per_layer_pf_lf",
    "transfer_kv_per_layer_ph_lf",
)
for _name in _NAMES:
    globals()[_name] = _unavailable(_name)
del _name
