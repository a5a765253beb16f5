"""The VDC tasks for lmms-eval chat models: same docs and prompts, requests in the chat shape."""

from __future__ import annotations

import pytest
from vdc_fixtures import IDS, write_root

from vdc_bench.dataset.dimensions import DIMENSIONS


@pytest.fixture(scope="module")
def task_manager():
    from lmms_eval.tasks import TaskManager

    from vdc_bench.registration import install_task_path_hook

    assert install_task_path_hook()  # what lmms-eval's entry-point loading does in a real run
    return TaskManager()


def _load(task_manager, names, task_type):
    from lmms_eval.tasks import get_task_dict

    out, todo = {}, [get_task_dict(names, task_manager, task_type)]
    while todo:
        for key, value in todo.pop().items():
            if isinstance(value, dict):
                todo.append(value)
            else:
                out[key] = value
    return out


def test_chat_requests_carry_the_video_and_the_same_prompt_as_simple_ones(tmp_path, monkeypatch, task_manager):
    from lmms_eval.api.task import ConfigurableMessagesTask

    from vdc_bench.lmms_tasks.vdc.task import VdcMessagesTask, VdcTask

    monkeypatch.setenv("VDC_ROOT", str(write_root(tmp_path / "r", "post_eval")))
    chat = _load(task_manager, ["vdc"], "chat")
    simple = _load(task_manager, ["vdc"], "simple")
    assert set(chat) == set(simple) == {f"vdc_{d}" for d in DIMENSIONS}
    for name, task in chat.items():
        assert isinstance(task, VdcMessagesTask) and isinstance(task, ConfigurableMessagesTask)
        assert type(simple[name]) is VdcTask
        task.build_all_requests(limit=None, rank=0, world_size=1)
        simple[name].build_all_requests(limit=None, rank=0, world_size=1)
        docs = task.test_docs()
        assert len(task.instances) == len(IDS)
        for inst, plain in zip(task.instances, simple[name].instances, strict=True):
            ctx, doc_to_messages, gen, doc_id, task_name, split = inst.args
            doc = docs[doc_id]
            assert doc_to_messages(doc) == [{"role": "user", "content": [
                {"type": "video", "url": doc["video_path"]}, {"type": "text", "text": doc["prompt"]}]}]
            assert ctx == plain.args[0] == doc["prompt"] and task_name == name and split == "test"
            assert gen == plain.args[1] and gen["until"] == []


def test_chat_task_keeps_records_under_predict_only(tmp_path, monkeypatch, task_manager):
    monkeypatch.setenv("VDC_ROOT", str(write_root(tmp_path / "r", "hf_flat")))
    task = _load(task_manager, ["vdc_short"], "chat")["vdc_short"]
    task.override_metric("bypass")  # what lmms-eval does for --predict_only
    doc = task.test_docs()[0]
    rec = task.process_results(doc, ["A caption."])["vdc_acc"]
    assert rec["caption"] == "A caption." and rec["video_id"] == doc["video_id"] and rec["qa"]


def test_api_backend_failure_placeholder_is_a_failed_generation_not_a_caption(tmp_path, monkeypatch, task_manager):
    monkeypatch.setenv("VDC_ROOT", str(write_root(tmp_path / "r", "hf_flat")))
    task = _load(task_manager, ["vdc_camera"], "chat")["vdc_camera"]
    doc = task.test_docs()[0]
    rec = task.process_results(doc, ["[LMMS_EVAL_REQUEST_FAILED after 5 retries] Connection refused"])["vdc_acc"]
    assert rec["failed"] is True and "Connection refused" in rec["error"]
    budget = task.process_results(doc, ["[LMMS_EVAL_BUDGET_EXCEEDED]"])["vdc_acc"]
    assert budget["failed"] is True
