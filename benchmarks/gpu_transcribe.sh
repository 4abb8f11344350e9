#!/usr/bin/env bash
# A GPU worker's transcription speed, measured on a lent machine that has Python 3.12, torch
# and CUDA 13 but none of msw-audio's packages and no network (see benchmarks/RESULTS.md,
# "Transcription on a GPU").
#
#   bash benchmarks/gpu_transcribe.sh pack N   # here: wheels + Whisper base, split in N parts
#   STAGE=/tmp/stage bash benchmarks/gpu_transcribe.sh run OUT   # there, once all parts are in
#
# `pack` puts the cp312 wheels of CTranslate2, faster-whisper and PyAV and the joined Whisper
# base (xz) into one tar and splits it into .gpu/c1 … .gpu/cN (ignored by git), small enough
# that each travels with one call. `run` joins the parts, installs the wheels into /tmp/site,
# and runs benchmarks/transcribe_device.py on CUDA (float16) with a 60-minute visit.
#
# CTranslate2 4.8's wheel loads cuBLAS 12 (libcublas.so.12) at run time; a machine with only
# CUDA 13's cuBLAS gets a link named libcublas.so.12 to cuBLAS 13 in /tmp/cu12 (nothing
# installed is changed). A real GPU worker installs nvidia-cublas-cu12 instead.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in
pack)
    parts=${2:-6}
    work=$(mktemp -d)
    mkdir -p "$work/whl" "$work/whisper-base"
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$work/whl" \
        ctranslate2==4.8.5 faster-whisper==1.2.1 av==18.1.0
    base=$("$here/.venv/bin/python" -c "from pathlib import Path; \
from msw_audio.speech.weights import whisper_model_dir; print(whisper_model_dir('base', Path('/tmp/wcache')))")
    for f in config.json tokenizer.json vocabulary.txt model.bin; do
        if [ "$f" = model.bin ] && [ -f /tmp/model.bin.xz ]; then
            cp /tmp/model.bin.xz "$work/whisper-base/model.bin.xz"   # made earlier: xz is slow
        else
            xz -T2 -6 -c "$base/$f" > "$work/whisper-base/$f.xz"
        fi
    done
    tar -C "$work" -cf "$work/all.tar" whl whisper-base
    size=$(stat -c %s "$work/all.tar")
    rm -rf "$here/.gpu"
    mkdir -p "$here/.gpu"
    split -n "$parts" -d -a 2 "$work/all.tar" "$work/part."
    i=1
    for p in "$work"/part.*; do
        mkdir -p "$here/.gpu/c$i"
        mv "$p" "$here/.gpu/c$i/"
        i=$((i + 1))
    done
    rm -rf "$work"
    echo "packed $size bytes into $parts parts under .gpu/"
    ;;
run)
    out=${2:?run OUT}
    stage=${STAGE:-/tmp/stage}
    rm -rf /tmp/gx && mkdir -p /tmp/gx
    cat "$stage"/part.* | tar -x -C /tmp/gx
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site /tmp/gx/whl/*.whl
    python3 - <<'EOF'
import lzma, pathlib, shutil
for src in pathlib.Path("/tmp/gx/whisper-base").glob("*.xz"):
    with lzma.open(src) as fin, open(src.with_suffix(""), "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 24)
    src.unlink()
EOF
    if ! ldconfig -p | grep -q 'libcublas.so.12 '; then
        roots=$(python3 -c "import site; print(' '.join(site.getsitepackages()))")
        lib=$(find $roots /usr/local/cuda* -name 'libcublas.so.13*' 2>/dev/null | head -1)
        mkdir -p /tmp/cu12
        ln -sf "$lib" /tmp/cu12/libcublas.so.12
        lt=$(find "$(dirname "$lib")" -name 'libcublasLt.so.13*' | head -1)
        [ -n "$lt" ] && ln -sf "$lt" /tmp/cu12/libcublasLt.so.12
        export LD_LIBRARY_PATH="/tmp/cu12:$(dirname "$lib"):${LD_LIBRARY_PATH:-}"
        echo "cuBLAS 12 name linked to $lib"
    fi
    export PYTHONPATH="/tmp/site:$here" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    python3 -c "import ctranslate2; print('ctranslate2', ctranslate2.__version__, \
'cuda devices', ctranslate2.get_cuda_device_count())"
    python3 "$here/benchmarks/transcribe_device.py" --device cuda --model /tmp/gx/whisper-base \
        --long-minutes 60 --out "$out/tx"
    tar -C "$out" -czf "$out/tx.tgz" tx && rm -rf "$out/tx"
    ;;
*)
    echo "usage: $0 pack N | run OUT" >&2
    exit 2
    ;;
esac
