# Sourced by the device-machine scripts (gpu_checks.sh, hc18_gpu.sh): makes the repository and the
# carried wheels (.whl, see gpu_checks.sh) importable by $PYTHON. The wheels go to their own folder,
# ahead of the image's site-packages on PYTHONPATH.
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

install_wheels() {
    if compgen -G ".whl/*.whl" > /dev/null; then
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/sonomtl-site .whl/*.whl || return
    fi
    export PYTHONPATH="$PYTHONPATH:/tmp/sonomtl-site"
}
