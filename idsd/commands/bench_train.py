"""``idsd bench train``: training throughput (samples/s) of the detector on synthetic data."""

from __future__ import annotations

import json


def register(subparsers, groups) -> None:
    p = groups["bench"].add_parser(
        "train", help="training samples/s of the three-tower TCN (synthetic data, after warm-up)",
        description="Training throughput of the exact detector on synthetic batches of a feature's "
                    "input shape, on the device the Keras backend sees (KERAS_BACKEND=jax|tensorflow).")
    p.add_argument("--feature", default="mel", help="feature whose input shape to use (default mel; "
                   "'image' = the upstream 640x480 image)")
    p.add_argument("--mode", default="array", choices=("array", "image", "db"))
    p.add_argument("--batch", type=int, default=None, help="batch size (default: 128 array, 32 image)")
    p.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed warm-up steps (default 2)")
    p.add_argument("--pooling", default="avg", choices=("avg", "max"))
    p.add_argument("--bf16", action="store_true", help="mixed_bfloat16 precision")
    p.add_argument("--xla", choices=("auto", "on", "off"), default=None,
                   help="XLA compilation (default: off for TensorFlow on CPU, else auto)")
    p.add_argument("--json", dest="json_path", default=None, help="also write the result to this JSON file")
    p.set_defaults(func=run)


def run(args) -> int:
    from idsd.bench.train import bench_train
    from idsd.paths import resolve

    jit = {None: None, "auto": "auto", "on": True, "off": False}[args.xla]
    res = bench_train(args.feature, args.mode, args.batch, args.steps, args.warmup, args.bf16, args.pooling,
                      jit_compile=jit)
    dev = res["device_name"] if res["device"] != "cpu" else f"cpu ({res['cpu_count']} cores)"
    print(f"{res['feature']}/{res['mode']} {tuple(res['shape'])} batch {res['batch']}"
          f"{' bf16' if res['bf16'] else ''} (XLA {res['jit_compile']}) on {res['backend']} {dev}: "
          f"{res['samples_per_s']:.1f} samples/s ({res['step_ms']:.1f} ms/step, first step {res['compile_s']:.1f} s)")
    if args.json_path:
        path = resolve(args.json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=2))
    return 0
