"""Issue 10's "done when": the main job fetches a missing dataset from TINYBGN_MIRRORS.

``TINYBGN_MIRRORS=http://127.0.0.1:PORT/ tinybgn reproduce --preset smoke --dataset
fashion-mnist`` against a local server holding the four real Fashion-MNIST files, on a machine
with no dataset anywhere (empty HOME and cache, no TINYBGN_DATA, an empty --data-dir): the files
are downloaded, verified and used. The smoke sizes are cut further by flags to keep CI short.
(The fresh-clone MNIST case, the embedded sample, is checked by .ci/run itself.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_reproduce_downloads_fashion_mnist_from_tinybgn_mirrors(
    fashion_dir, serve_folder, tmp_path
):
    url = serve_folder(fashion_dir)
    env = {k: v for k, v in os.environ.items() if k != "TINYBGN_DATA"}
    env.update(
        TINYBGN_MIRRORS=url,
        HOME=str(tmp_path / "home"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        MPLBACKEND="Agg",
        OPENBLAS_NUM_THREADS="1",
    )
    data_dir, out = tmp_path / "data", tmp_path / "out"
    data_dir.mkdir()
    argv = [sys.executable, "-m", "tinybgn", "reproduce", "--preset", "smoke"]
    argv += ["--dataset", "fashion-mnist", "--data-dir", str(data_dir), "--out", str(out)]
    argv += ["--epochs", "1", "--eps-seeds", "0", "--workers", "1", "-q"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    names = sorted(p.name for p in (data_dir / "fashion-mnist").iterdir())
    assert names == sorted(
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
        + ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    )
    protocol = json.dumps(json.loads((out / "protocol.json").read_text()))
    assert "127.0.0.1" in protocol and "fashion" in protocol.lower()
