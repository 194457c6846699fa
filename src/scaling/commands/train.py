"""`scaling train`: one training run of a potential on a graph store, resumable, writing RUN_DIR/result.json."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from scaling.models.registry import BUILTIN

    parser = subparsers.add_parser(
        "train",
        help="train one potential on a graph store (resumes from RUN_DIR/checkpoint.pt)",
        description="Train one GNN potential with N parameters on D structures of a graph store. Writes "
        "RUN_DIR/{config.json, metrics.jsonl, checkpoint.pt, best.pt, result.json}; resumes when a checkpoint is "
        "there. Exit 0 done, 1 failed (diverged), 2 bad input.",
    )
    parser.add_argument("--data", required=True, metavar="STORE", help="graph store directory (scaling data build)")
    parser.add_argument("--train-size", type=int, default=None, metavar="D", help="training structures (default all)")
    parser.add_argument("--params", type=int, default=None, metavar="N", help="target parameter count")
    parser.add_argument("--width", type=int, default=None, help="explicit width (instead of --params)")
    parser.add_argument("--depth", type=int, default=3, help="interaction layers (default 3)")
    parser.add_argument("--fit-depth", action="store_true", help="let sizing choose the depth too")
    parser.add_argument("--arch", default="twobody", metavar="NAME",
                        help=f"{', '.join(BUILTIN)} (mace needs the extra: pip install -e '.[mace]'), module:builder, "
                        "or an entry point of group scaling.architectures (docs/models.md)")
    parser.add_argument("--arch-option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the architecture's builder (YAML value), e.g. --arch-option max_L=2")
    parser.add_argument("--seed", type=int, default=0, help="training seed (init, data order, subset)")
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--max-seconds", type=float, default=None, help="wall-clock budget (s)")
    parser.add_argument("--max-cpu-seconds", type=float, default=None,
                        help="CPU-time budget of this process (s; all threads), for a fair budget on a shared machine")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--patience", type=int, default=20, help="early stopping patience (epochs)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--devices", type=int, default=1, metavar="K",
                        help="data-parallel processes (torch.distributed; gloo on CPU, NCCL on CUDA): the global batch "
                        "--batch-size is split among them; spawned here unless torchrun or SLURM launched them")
    parser.add_argument("--test-data", default=None, metavar="STORE", help="separate test store (e.g. mlearn test)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="any other TrainConfig field (see docs/models.md), e.g. --set force_weight=10")
    parser.add_argument("--out", required=True, metavar="RUN_DIR")
    parser.set_defaults(handler=run)


def _overrides(pairs: list[str], flag: str = "--set") -> dict:
    import yaml

    from scaling.errors import InputError

    values = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise InputError(f"{flag} {pair!r}: expected " + ("FIELD=VALUE" if flag == "--set" else "KEY=VALUE"))
        try:
            values[name.strip()] = yaml.safe_load(text)
        except yaml.YAMLError as error:  # e.g. a !!python/object tag: safe_load refuses it, and so do we
            reason = " ".join(str(error).split())[:120]
            raise InputError(f"{flag} {pair!r}: not a plain YAML value ({reason})") from None
    return values


def _is_main_rank() -> bool:
    """False in ranks 1..K-1 of a torchrun or SLURM launch (only rank 0 reports)."""
    import os

    return os.environ.get("RANK", "0") == "0"


def run(args: argparse.Namespace) -> int:
    import json

    from scaling.console import show_live_progress
    from scaling.train import TrainConfig, run_training

    values = dict(
        store=args.data, train_size=args.train_size, params=args.params, width=args.width, depth=args.depth,
        fit_depth=args.fit_depth, arch=args.arch, seed=args.seed, max_epochs=args.max_epochs,
        max_steps=args.max_steps, max_seconds=args.max_seconds,
        max_cpu_seconds=args.max_cpu_seconds, batch_size=args.batch_size, lr=args.lr,
        patience=args.patience, device=args.device, threads=args.threads, devices=args.devices,
        test_store=args.test_data,
        arch_options=_overrides(args.arch_option, "--arch-option"),
    )
    values.update(_overrides(args.set))
    config = TrainConfig.from_dict(values, source="scaling train")
    result = run_training(config, args.out, progress=show_live_progress(args.quiet))
    if not args.quiet and _is_main_rank():
        print(json.dumps(result, indent=2))
    return 0 if result["status"] == "done" else 1
