# Source this to run ape/pytest/oracle by hand with the same environment the Makefile uses:
#   source toolchain/env.sh && ape test tests/test_token.py
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export APE_DATA_FOLDER="$_root/.ape-data" SOLCX_BINARY_PATH="$_root/.solcx"
export PIP_CACHE_DIR="$_root/.cache/pip" npm_config_cache="$_root/.cache/npm"
export HYPOTHESIS_STORAGE_DIRECTORY="$_root/.hypothesis" PYTHONUNBUFFERED=1
export PATH="$_root/.venv/bin:$_root/node_modules/@foundry-rs/anvil-linux-amd64/bin:$_root/node_modules/.bin:$PATH"
unset _root
