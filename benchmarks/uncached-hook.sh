# The uncached on-activate hook that .flox/env/manifest.toml replaces, kept as the
# benchmark's baseline and as the tests' independent oracle: on EVERY activation it walks
# the SGLang closure with `nix-store -qR` once per variable (three walks) and builds each
# value by string appends in shell loops.
unset PYTHONPATH PYTHONHOME
_top=$(readlink -f "$(command -v sglang)")
_top=${_top%/bin/sglang}
_pp=""
for _p in $(nix-store -qR "$_top"); do
  [ -d "$_p/lib/python3.12/site-packages" ] && _pp="${_pp:+$_pp:}$_p/lib/python3.12/site-packages"
done
export PYTHONPATH="$_pp"
_py=""
for _p in $(nix-store -qR "$_top"); do
  case $_p in
    *-cuda12.8-cuda_nvcc-*) [ -n "${CUDA_HOME:-}" ] || export CUDA_HOME="$_p" ;;
    *-python3-3.12*) [ -n "$_py" ] || _py="$_p/bin" ;;
  esac
done
export PATH="$_py:$PATH"
_inc="" _lib=""
for _p in $(nix-store -qR "$_top" | grep -- '-cuda12\.8-'); do
  [ -d "$_p/include" ] && _inc="${_inc:+$_inc:}$_p/include"
  [ -d "$_p/lib" ] && _lib="${_lib:+$_lib:}$_p/lib"
  [ -d "$_p/lib64" ] && _lib="${_lib:+$_lib:}$_p/lib64"
done
export CPATH="$_inc${CPATH:+:$CPATH}" LIBRARY_PATH="$_lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
unset _top _pp _py _p _inc _lib
