"""Where lmms-eval 0.7.3's own image/video tasks read their data, so a local copy can be staged there.

Each task loads ``datasets.load_dataset(dataset_path, dataset_name)`` (offline: from the datasets cache)
and, for video tasks, opens videos under ``$HF_HOME/<cache_dir>``. The values below are copied from
the task YAMLs and utils of lmms-eval 0.7.3 (a test compares them with the installed lmms-eval); the
columns are the ones the task's ``doc_to_*`` and ``process_results`` functions read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HubTable:
    """One configuration of a Hub data set that a task loads."""

    config: str | None  # the YAML's dataset_name (None = the repo's default configuration)
    split: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class VideoFolder:
    """Where the task's ``doc_to_visual`` looks for videos: ``$HF_HOME/<cache_dir>/<subdir>/<prefix><id>.<ext>``."""

    cache_dir: str
    subdir: str
    prefix: str
    id_column: str
    extensions: tuple[str, ...]


@dataclass(frozen=True)
class BuiltinTask:
    task: str
    repo: str  # the YAML's dataset_path
    tables: tuple[HubTable, ...]
    videos: VideoFolder | None = None
    note: str = ""


BUILTIN_TASKS: dict[str, BuiltinTask] = {t.task: t for t in (
    BuiltinTask("flickr30k_test", "lmms-lab-encoder/flickr30k",
                (HubTable(None, "test", ("image", "caption", "img_id")),)),
    BuiltinTask("nocaps_val", "lmms-lab-encoder/NoCaps",
                (HubTable(None, "validation", ("image", "image_id", "annotations_captions")),)),
    BuiltinTask("coco2017_cap_val", "lmms-lab-encoder/COCO-Caption2017",
                (HubTable(None, "val", ("image", "question_id", "id", "answer")),)),
    BuiltinTask("gqa", "lmms-lab-encoder/GQA",
                (HubTable("testdev_balanced_instructions", "testdev", ("question", "imageId", "answer")),
                 HubTable("testdev_balanced_images", "testdev", ("id", "image"))),
                note="process_docs joins the questions with the images configuration by imageId"),
    BuiltinTask("mmmu_val", "lmms-lab-encoder/MMMU",
                (HubTable(None, "validation", ("id", "question", "options", "answer", "question_type", "image_1")),)),
    BuiltinTask("vqav2_val", "lmms-lab-encoder/VQAv2",
                (HubTable(None, "validation", ("image", "question", "question_id", "answers")),)),
    BuiltinTask("vatex_test", "lmms-eval/VATEX", (HubTable("vatex_test", "test", ("videoID", "enCap")),),
                videos=VideoFolder("vatex_test", "", "", "videoID", ("mp4", "MP4", "mkv"))),
    BuiltinTask("activitynetqa", "lmms-eval/ActivityNetQA",
                (HubTable(None, "test", ("video_name", "question", "answer", "question_id", "type")),),
                videos=VideoFolder("activitynetqa", "all_test", "v_", "video_name", ("mp4", "webm", "mkv"))),
)}
