"""Stage a local copy of a Hub data set where an unmodified lmms-eval task reads it offline.

With ``HF_DATASETS_OFFLINE=1``, ``datasets.load_dataset("<ns>/<name>", <config>)`` falls back to the
datasets cache: ``<cache>/<ns>___<snake name>/<config or default>/<version>/<hash>/`` holding
``dataset_info.json`` and one ``<snake name>-<split>.arrow`` stream per split. ``stage_task`` writes
exactly that from the data set's parquet files (the Hub repo's own files, e.g. copied from a machine
that can reach the Hub), checking that every column the task reads is there. Video tasks also get
their videos linked into ``$HF_HOME/<cache_dir>/`` where the task's ``doc_to_visual`` looks.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from datasets.arrow_writer import ArrowWriter
from datasets.naming import camelcase_to_snakecase

from vdc_bench.dataset.builtin_tasks import BUILTIN_TASKS, BuiltinTask, HubTable, VideoFolder
from vdc_bench.dataset.errors import DataFormatError, DataNotFoundError, MissingVideosError

STAGED_HASH = "local"  # the hash folder name; the cache loader takes the newest folder, whatever its name


def hf_home() -> Path:
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface").expanduser()


def datasets_cache_dir() -> Path:
    """The folder lmms-eval 0.7.3 passes to ``load_dataset`` as ``cache_dir`` (same precedence)."""
    explicit = os.environ.get("LMMS_EVAL_DATASETS_CACHE", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("HF_DATASETS_CACHE") or hf_home() / "datasets").expanduser()


@dataclass
class StageReport:
    task: str
    tables: dict[str, int] = field(default_factory=dict)  # "<config>/<split>" -> rows
    videos: int = 0
    written: list[Path] = field(default_factory=list)


def _split_of(file: Path) -> str:
    # Hub parquet names: <split>-00000-of-00003.parquet, <split>-<hash>.parquet or <split>.parquet
    return file.name.removesuffix(".parquet").split("-")[0]


def split_files(source: Path, table: HubTable) -> list[Path]:
    """The parquet files of ``table``: ``<source>/<config>/`` for a named configuration, else
    ``<source>/data/`` if present, else ``<source>/`` (searched recursively; Hub repo layouts)."""
    if table.config is not None:
        root = source / table.config
        if not root.is_dir():
            raise DataNotFoundError(f"{root}: folder of configuration {table.config!r} not found")
    else:
        root = source / "data" if (source / "data").is_dir() else source
    files = sorted(p for p in root.rglob("*.parquet") if _split_of(p) == table.split)
    if not files:
        raise DataNotFoundError(f"{root}: no {table.split}*.parquet file (split {table.split!r} of {table.config or 'default'})")
    return files


def _features(files: list[Path], table: HubTable, task: str) -> datasets.Features:
    schemas = [pq.read_schema(f) for f in files]
    for f, schema in zip(files, schemas, strict=True):
        missing = [c for c in table.columns if c not in schema.names]
        if missing:
            raise DataFormatError(f"{f}: column(s) {', '.join(missing)} missing; task {task} reads {', '.join(table.columns)}")
        if schema.names != schemas[0].names:
            raise DataFormatError(f"{f}: columns {schema.names} differ from {files[0]}'s {schemas[0].names}")
    # Hub parquet files carry their datasets Features (Image, Sequence, ...) in the schema metadata.
    return datasets.Features.from_arrow_schema(schemas[0])


def _write_table(repo: str, table: HubTable, files: list[Path], features: datasets.Features, cache: Path) -> tuple[Path, int]:
    """Write one split; splits staged earlier into the same configuration (e.g. val and test) are kept."""
    namespace, name = repo.split("/")
    snake = camelcase_to_snakecase(name)
    config = table.config or "default"
    final = cache / f"{namespace}___{snake}" / config / "0.0.0" / STAGED_HASH
    partial = final.with_name(STAGED_HASH + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    splits = datasets.SplitDict(dataset_name=snake)
    if (final / datasets.config.DATASET_INFO_FILENAME).is_file():
        earlier = datasets.DatasetInfo.from_directory(str(final))
        if earlier.features == features:
            for info in earlier.splits.values():
                if info.name != table.split:
                    shutil.copy2(final / f"{snake}-{info.name}.arrow", partial)
                    splits.add(info)
    with ArrowWriter(features=features, path=str(partial / f"{snake}-{table.split}.arrow")) as writer:
        for f in files:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=256):
                writer.write_table(pa.Table.from_batches([batch]))
        rows, nbytes = writer.finalize()
    splits.add(datasets.SplitInfo(name=table.split, num_bytes=nbytes, num_examples=rows, dataset_name=snake))
    datasets.DatasetInfo(features=features, config_name=config, dataset_name=snake, splits=splits,
                         version="0.0.0").write_to_directory(str(partial))
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return final, rows


def _video_ids(files: list[Path], column: str) -> list[str]:
    ids: dict[str, None] = {}  # ordered, unique: QA sets ask several questions per video
    for f in files:
        for value in pq.read_table(f, columns=[column]).column(column).to_pylist():
            ids[str(value)] = None
    return list(ids)


def link_videos(ids: Iterable[str], folder: VideoFolder, source: Path, home: Path) -> tuple[Path, int]:
    """Symlink ``<source>/<prefix><id>.<ext>`` (first extension found, searched recursively) into the
    folder the task reads. Every missing video is named in one error; nothing is linked then."""
    by_name = {p.name: p for p in sorted(source.rglob("*")) if p.is_file()}
    found: dict[str, Path] = {}
    missing = []
    for vid in ids:
        match = next((by_name[n] for n in (f"{folder.prefix}{vid}.{ext}" for ext in folder.extensions) if n in by_name), None)
        if match is None:
            missing.append(f"{folder.prefix}{vid}.{{{','.join(folder.extensions)}}}")
        else:
            found[vid] = match
    if missing:
        raise MissingVideosError(f"{source}: {len(missing)} missing video(s): {', '.join(missing)}")
    target = home / folder.cache_dir / folder.subdir if folder.subdir else home / folder.cache_dir
    target.mkdir(parents=True, exist_ok=True)
    for path in found.values():
        link = target / path.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(path.resolve())
    return target, len(found)


def stage_task(task: str, source: Path, videos: Path | None = None, cache: Path | None = None,
               home: Path | None = None) -> StageReport:
    """Stage ``task``'s tables from ``source`` (and its videos from ``videos``) for offline lmms-eval runs.

    Everything is checked (tables, columns, videos) before anything is written."""
    spec: BuiltinTask | None = BUILTIN_TASKS.get(task)
    if spec is None:
        raise DataNotFoundError(f"task {task!r} cannot be staged; known: {', '.join(sorted(BUILTIN_TASKS))}")
    source = Path(source)
    if not source.is_dir():
        raise DataNotFoundError(f"{source}: folder not found")
    if spec.videos is not None and videos is None:
        raise DataNotFoundError(f"task {task} reads videos: pass the folder that holds them (--videos DIR)")
    cache = Path(cache) if cache is not None else datasets_cache_dir()
    home = Path(home) if home is not None else hf_home()
    plan = []
    for table in spec.tables:
        files = split_files(source, table)
        plan.append((table, files, _features(files, table, task)))
    video_ids = _video_ids(plan[0][1], spec.videos.id_column) if spec.videos is not None else []
    report = StageReport(task)
    if spec.videos is not None:
        folder, report.videos = link_videos(video_ids, spec.videos, Path(videos), home)
        report.written.append(folder)
    for table, files, features in plan:
        final, rows = _write_table(spec.repo, table, files, features, cache)
        report.tables[f"{table.config or 'default'}/{table.split}"] = rows
        report.written.append(final)
    return report
