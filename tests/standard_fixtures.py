"""Small local copies of lmms-eval's built-in data sets, in each Hub repo's own parquet layout and schema.

Photos are scikit-image's sample images (from its PyPI wheel), videos the VDC demo's real clips; the
references are hand-written for these pictures. Columns follow the Hub data sets' schemas (the ones each
task reads plus the usual companions), so ``vdc-bench data stage`` sees what a real copy holds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
from datasets import Features, Image, Sequence, Value

from vdc_bench.dataset.demo import DemoAsset, extract_assets, fetch_demo_videos

SKIMAGE = "scikit-image==0.25.2"
PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg")
PHOTO_ASSETS = tuple(DemoAsset(SKIMAGE, "scikit_image-0.25.2-", f"skimage/data/{name}", name) for name in PHOTOS)

CAPTIONS = {
    "astronaut.png": ["An astronaut in a white spacesuit poses in front of an American flag.",
                      "A smiling woman astronaut in a spacesuit holds a helmet.",
                      "Portrait of an astronaut with the US flag behind her."],
    "coffee.png": ["A cup of coffee on a saucer with a spoon.",
                   "A white coffee cup with a red saucer on a table.",
                   "Top view of a cup of black coffee and a spoon."],
    "chelsea.png": ["A tabby cat looks to the side.",
                    "Close up of an orange and brown striped cat.",
                    "A cat with green eyes sitting indoors."],
    "rocket.jpg": ["A rocket stands on the launch pad.",
                   "A space rocket ready for launch under a blue sky.",
                   "A tall rocket on a launch tower."],
}
QUESTIONS = {  # (question, answer) about each photo
    "astronaut.png": ("What is the person wearing?", "spacesuit"),
    "coffee.png": ("What drink is in the cup?", "coffee"),
    "chelsea.png": ("What animal is this?", "cat"),
    "rocket.jpg": ("What vehicle is shown?", "rocket"),
}
VIDEOS = {  # demo clip -> hand-written captions and one QA
    "bigbuckbunny.mp4": (["A big grey rabbit stretches on a grassy hill next to a tree.",
                          "An animated rabbit wakes up and stretches in a meadow."],
                         ("what animal is on the hill", "rabbit")),
    "carphone_pristine.mp4": (["A man talks on a phone while sitting in a car.",
                               "A man in a moving car speaks into a phone."],
                              ("where is the man sitting", "car")),
}


def fetch_photos(dest: Path) -> dict[str, Path]:
    return extract_assets(PHOTO_ASSETS, dest)


def _parquet(rows: dict, features: Features, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(path))


def write_image_copies(root: Path, photos: dict[str, Path]) -> dict[str, Path]:
    """One Hub-layout folder per image task under ``root``; returns task -> folder."""
    names = list(CAPTIONS)
    images = [str(photos[n]) for n in names]
    out = {}

    out["flickr30k_test"] = root / "flickr30k"
    _parquet({"image": images, "caption": [CAPTIONS[n] for n in names],
              "sentids": [[str(10 * i + j) for j in range(3)] for i in range(len(names))],
              "img_id": [str(i) for i in range(len(names))], "filename": names},
             Features({"image": Image(), "caption": Sequence(Value("string")), "sentids": Sequence(Value("string")),
                       "img_id": Value("string"), "filename": Value("string")}),
             out["flickr30k_test"] / "data" / "test-00000-of-00001.parquet")

    out["nocaps_val"] = root / "nocaps"
    _parquet({"image": images, "image_id": list(range(len(names))), "image_file_name": names,
              "image_open_images_id": [f"oi{i:04d}" for i in range(len(names))],
              "annotations_ids": [[3 * i + j for j in range(3)] for i in range(len(names))],
              "annotations_captions": [CAPTIONS[n] for n in names]},
             Features({"image": Image(), "image_id": Value("int64"), "image_file_name": Value("string"),
                       "image_open_images_id": Value("string"), "annotations_ids": Sequence(Value("int64")),
                       "annotations_captions": Sequence(Value("string"))}),
             out["nocaps_val"] / "data" / "validation-00000-of-00001.parquet")

    out["coco2017_cap_val"] = root / "coco2017"
    _parquet({"question_id": [f"{100 + i:012d}.jpg" for i in range(len(names))], "image": images,
              "question": ["Please carefully observe the image and come up with a caption for the image."] * len(names),
              "answer": [CAPTIONS[n] for n in names], "id": list(range(len(names))),
              "file_name": [f"{100 + i:012d}.jpg" for i in range(len(names))]},
             Features({"question_id": Value("string"), "image": Image(), "question": Value("string"),
                       "answer": Sequence(Value("string")), "id": Value("int64"), "file_name": Value("string")}),
             out["coco2017_cap_val"] / "data" / "val-00000-of-00001.parquet")

    out["gqa"] = root / "gqa"
    _parquet({"id": [f"q{i}" for i in range(len(names))], "imageId": [f"n{i}" for i in range(len(names))],
              "question": [QUESTIONS[n][0] for n in names], "answer": [QUESTIONS[n][1] for n in names],
              "fullAnswer": [f"It is a {QUESTIONS[n][1]}." for n in names]},
             Features({"id": Value("string"), "imageId": Value("string"), "question": Value("string"),
                       "answer": Value("string"), "fullAnswer": Value("string")}),
             out["gqa"] / "testdev_balanced_instructions" / "testdev-00000-of-00001.parquet")
    _parquet({"id": [f"n{i}" for i in range(len(names))], "image": images},
             Features({"id": Value("string"), "image": Image()}),
             out["gqa"] / "testdev_balanced_images" / "testdev-00000-of-00001.parquet")

    out["mmmu_val"] = root / "mmmu"
    mmmu = {"id": [], "question": [], "options": [], "explanation": [], "img_type": [], "answer": [],
            "topic_difficulty": [], "question_type": [], "subfield": []}
    mmmu.update({f"image_{k}": [] for k in range(1, 8)})
    for i, n in enumerate(names):
        question, answer = QUESTIONS[n]
        choices = [answer, "tree", "house", "boat"]
        multiple = i % 2 == 0
        mmmu["id"].append(f"validation_{'Art' if multiple else 'Biology'}_{i + 1}")
        mmmu["question"].append(f"<image 1> {question}")
        mmmu["options"].append(repr(choices) if multiple else "[]")
        mmmu["explanation"].append("")
        mmmu["img_type"].append("['Photographs']")
        mmmu["answer"].append("A" if multiple else answer)
        mmmu["topic_difficulty"].append("Easy")
        mmmu["question_type"].append("multiple-choice" if multiple else "open")
        mmmu["subfield"].append("Photography")
        mmmu["image_1"].append(images[i])
        for k in range(2, 8):
            mmmu[f"image_{k}"].append(None)
    _parquet(mmmu, Features({**{k: Value("string") for k in mmmu if not k.startswith("image_")},
                             **{f"image_{k}": Image() for k in range(1, 8)}}),
             out["mmmu_val"] / "data" / "validation-00000-of-00001.parquet")

    out["vqav2_val"] = root / "vqav2"
    _parquet({"question_type": ["what is"] * len(names), "multiple_choice_answer": [QUESTIONS[n][1] for n in names],
              "answers": [[{"answer": QUESTIONS[n][1], "answer_confidence": "yes", "answer_id": j + 1} for j in range(10)]
                          for n in names],
              "image_id": list(range(len(names))), "answer_type": ["other"] * len(names),
              "question_id": [1000 + i for i in range(len(names))], "question": [QUESTIONS[n][0] for n in names],
              "image": images},
             Features({"question_type": Value("string"), "multiple_choice_answer": Value("string"),
                       "answers": [{"answer": Value("string"), "answer_confidence": Value("string"), "answer_id": Value("int64")}],
                       "image_id": Value("int64"), "answer_type": Value("string"), "question_id": Value("int64"),
                       "question": Value("string"), "image": Image()}),
             out["vqav2_val"] / "data" / "validation-00000-of-00001.parquet")
    return out


def write_video_copies(root: Path) -> tuple[dict[str, Path], Path]:
    """Hub-layout folders of the video tasks and one folder with their videos (as each release names them)."""
    clips = fetch_demo_videos(root / "demo_clips")
    videos = root / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    names = list(VIDEOS)
    for n in names:
        shutil.copyfile(clips[n], videos / n)  # VATEX: <videoID>.mp4
        shutil.copyfile(clips[n], videos / f"v_{n}")  # ActivityNet: v_<video_name>.mp4
    stems = [n.removesuffix(".mp4") for n in names]
    out = {"vatex_test": root / "vatex", "activitynetqa": root / "activitynetqa"}
    _parquet({"videoID": stems, "path": [f"{s}.mp4" for s in stems], "enCap": [VIDEOS[n][0] for n in names],
              "chCap": [["一段视频。"] for _ in names]},
             Features({"videoID": Value("string"), "path": Value("string"), "enCap": Sequence(Value("string")),
                       "chCap": Sequence(Value("string"))}),
             out["vatex_test"] / "vatex_test" / "test-00000-of-00001.parquet")
    _parquet({"video_name": stems, "question_id": [f"v_{s}_0" for s in stems],
              "question": [VIDEOS[n][1][0] for n in names], "answer": [VIDEOS[n][1][1] for n in names],
              "type": [0] * len(names)},
             Features({"video_name": Value("string"), "question_id": Value("string"), "question": Value("string"),
                       "answer": Value("string"), "type": Value("int64")}),
             out["activitynetqa"] / "data" / "test-00000-of-00001.parquet")
    return out, videos


MSRVTT_IDS = {"bigbuckbunny.mp4": "video7020", "carphone_pristine.mp4": "video9770"}


def write_msrvtt_copy(root: Path) -> Path:
    """An MSR-VTT release folder: the 1k-A split CSV, MSRVTT_data.json and videos/all/<video_id>.mp4."""
    clips = fetch_demo_videos(root / "demo_clips")
    (root / "videos" / "all").mkdir(parents=True, exist_ok=True)
    sentences = []
    rows = ["key,vid_key,video_id,sentence"]
    for i, (clip, vid) in enumerate(MSRVTT_IDS.items()):
        shutil.copyfile(clips[clip], root / "videos" / "all" / f"{vid}.mp4")
        captions = VIDEOS[clip][0]
        rows.append(f"ret{i},msr{vid.removeprefix('video')},{vid},{captions[0]}")
        sentences += [{"caption": c, "video_id": vid, "sen_id": 20 * i + j} for j, c in enumerate(captions)]
    # a train video's references, as the full file holds them
    sentences.append({"caption": "a man is cooking in a kitchen", "video_id": "video0", "sen_id": 999})
    (root / "MSRVTT_JSFUSION_test.csv").write_text("\n".join(rows) + "\n")
    (root / "MSRVTT_data.json").write_text(json.dumps({
        "info": {"year": "2016"}, "videos": [{"video_id": v, "split": "validate"} for v in MSRVTT_IDS.values()],
        "sentences": sentences}))
    return root


MSVD_CLIPS = {"bigbuckbunny.mp4": ("bunny_0_5", 1), "carphone_pristine.mp4": ("carphone_0_4", 2)}


def write_qa_release_copies(root: Path) -> dict[str, Path]:
    """MSRVTT-QA and MSVD-QA release folders (test_qa.json; MSVD's youtube_mapping.txt and .avi clip names)."""
    clips = fetch_demo_videos(root / "demo_clips")
    msrvtt, msvd = root / "msrvtt_qa", root / "msvd_qa"
    (msrvtt / "videos" / "all").mkdir(parents=True, exist_ok=True)
    (msvd / "YouTubeClips").mkdir(parents=True, exist_ok=True)
    msrvtt_qa, msvd_qa, mapping = [], [], []
    for i, (clip, (name, vid)) in enumerate(MSVD_CLIPS.items()):
        question, answer = VIDEOS[clip][1]
        number = int(MSRVTT_IDS[clip].removeprefix("video"))
        shutil.copyfile(clips[clip], msrvtt / "videos" / "all" / f"video{number}.mp4")
        shutil.copyfile(clips[clip], msvd / "YouTubeClips" / f"{name}.avi")  # PyAV probes the content
        msrvtt_qa.append({"answer": answer, "category_id": 0, "id": 158581 + i, "question": question + "?",
                          "video_id": number})
        msvd_qa.append({"answer": answer, "id": 30933 + i, "question": question + "?", "video_id": vid})
        mapping.append(f"{name} vid{vid}")
    (msrvtt / "test_qa.json").write_text(json.dumps(msrvtt_qa))
    (msvd / "test_qa.json").write_text(json.dumps(msvd_qa))
    (msvd / "youtube_mapping.txt").write_text("\n".join(mapping) + "\n")
    return {"msrvtt_qa": msrvtt, "msvd_qa": msvd}


# demo clip -> (YouTube id, start, end, five hand-written annotator answers); spans match the clips' lengths
IVQA_CLIPS = {"bigbuckbunny.mp4": ("aqz-KE-bpKQ", "10", "15", ["rabbit", "rabbit", "bunny", "a rabbit", "hare"]),
              "carphone_pristine.mp4": ("cPhOnE00001", "30", "34", ["car", "in a car", "car", "vehicle", "car seat"])}


def write_ivqa_copy(root: Path) -> Path:
    """An iVQA release folder: test.csv (video_id,start,end,question,answer1..answer5) and video/<id>_<start>_<end>.mp4."""
    clips = fetch_demo_videos(root / "demo_clips")
    (root / "video").mkdir(parents=True, exist_ok=True)
    rows = ["video_id,start,end,question,answer1,answer2,answer3,answer4,answer5"]
    for clip, (vid, start, end, answers) in IVQA_CLIPS.items():
        shutil.copyfile(clips[clip], root / "video" / f"{vid}_{start}_{end}.mp4")
        rows.append(",".join([vid, start, end, VIDEOS[clip][1][0] + "?", *answers]))
    (root / "test.csv").write_text("\n".join(rows) + "\n")
    return root
