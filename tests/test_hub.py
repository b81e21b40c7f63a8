"""Model lookup in the HF-cache layout, on real folders."""

from __future__ import annotations

import pytest
from huggingface_hub.file_download import repo_folder_name as hf_repo_folder_name

from conftest import write_cached_repo, write_model
from sglang_runtime.model import hub
from sglang_runtime.util.errors import ConfigError

ID = "org/model-7B"


@pytest.mark.parametrize("repo_id", ["org/name", "microsoft/Phi-4-mini-instruct-FP8-TORCHAO", "a.b/c_d-e"])
def test_folder_name_is_huggingface_hubs(repo_id):
    assert hub.repo_folder_name(repo_id) == hf_repo_folder_name(repo_id=repo_id, repo_type="model")


def test_ref_names_the_snapshot(tmp_path):
    write_cached_repo(tmp_path, ID, commit="1" * 40, write_ref=False)
    wanted = write_cached_repo(tmp_path, ID, commit="2" * 40)
    assert hub.find(ID, "main", [tmp_path]).snapshot == wanted


def test_other_revision_ref(tmp_path):
    write_cached_repo(tmp_path, ID, commit="1" * 40)
    v2 = write_cached_repo(tmp_path, ID, commit="2" * 40, revision="v2")
    assert hub.find(ID, "v2", [tmp_path]).snapshot == v2


def test_commit_hash_revision_without_ref(tmp_path):
    write_cached_repo(tmp_path, ID, commit="1" * 40, write_ref=False)
    two = write_cached_repo(tmp_path, ID, commit="2" * 40, write_ref=False)
    assert hub.find(ID, "2" * 40, [tmp_path]).snapshot == two


def test_single_snapshot_of_a_bundle_without_refs_is_used_for_main(tmp_path):
    only = write_cached_repo(tmp_path, ID, write_ref=False)
    assert hub.find(ID, "main", [tmp_path]).snapshot == only


def test_first_root_wins_and_broken_first_copy_is_an_error(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    (write_cached_repo(first, ID) / "model.safetensors").unlink()
    write_cached_repo(second, ID)
    with pytest.raises(ConfigError, match="at least one weights file"):
        hub.find(ID, "main", [first, second])


def test_missing_everything_returns_none(tmp_path):
    assert hub.find(ID, "main", [tmp_path / "nope", tmp_path]) is None


def test_index_naming_a_missing_shard(tmp_path):
    snap = write_cached_repo(tmp_path, ID, shards=200)
    for i in (7, 8, 9, 10):
        (snap / f"model-{i:05d}-of-00200.safetensors").unlink()
    with pytest.raises(ConfigError) as caught:
        hub.find(ID, "main", [tmp_path])
    assert "model-00007-of-00200.safetensors" in str(caught.value) and "1 more" in str(caught.value)


def test_search_roots_order(tmp_path):
    roots = hub.search_roots("/flox", ["/a", "~/b"], tmp_path)
    assert [str(r) for r in roots[:2]] == ["/flox/share/models/hub", "/a"]
    assert roots[-1] == tmp_path and "~" not in str(roots[2])


@pytest.mark.parametrize("model,ok", [("org/name", True), ("./local", False), ("/abs/path", False), ("gpt2", True),
                                      ("a/b/c", False), ("org/na--me", False), ("org/a..b", False), ("org/" + "x" * 97, False),
                                      ("-x", False), ("org/name.", False)])
def test_repo_id_shape(model, ok):
    assert hub.looks_like_repo_id(model) is ok


def test_local_directory_must_be_a_model(tmp_path):
    assert hub.local_directory(str(write_model(tmp_path / "m"))).repo_id is None
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="config.json"):
        hub.local_directory(str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="existing model directory"):
        hub.local_directory(str(tmp_path / "absent"))


def test_one_part_hub_id_resolves_like_any_other(tmp_path):
    snap = write_cached_repo(tmp_path, "gpt2")
    assert (tmp_path / "models--gpt2").is_dir()
    assert hub.find("gpt2", "main", [tmp_path]).snapshot == snap
    assert hub.local_directory("gpt2") is None  # not a directory here: a Hub id


def test_a_revision_the_copy_lacks_is_an_error_not_its_only_snapshot(tmp_path):
    write_cached_repo(tmp_path, ID)
    with pytest.raises(ConfigError) as caught:
        hub.find(ID, "v2", [tmp_path])
    message = str(caught.value)
    assert message.startswith("SGLANG_MODEL_REVISION='v2'") and "refs: main" in message


@pytest.mark.parametrize("revision", ["../../etc", "/abs", "a/../b", "a//b", "", "x" * 300, "main\n", "ref with space"])
def test_revisions_are_names_not_paths(tmp_path, revision):
    write_cached_repo(tmp_path, ID)
    with pytest.raises(ConfigError, match="SGLANG_MODEL_REVISION"):
        hub.find(ID, revision, [tmp_path])


@pytest.mark.parametrize("content", ["../../../../etc", "/etc/passwd", "a" * 39, "A" * 40, "x" * 5000, "\x00" * 40])
def test_a_ref_file_must_hold_a_commit_id_and_is_never_quoted(tmp_path, content):
    write_cached_repo(tmp_path, ID)
    (tmp_path / "models--org--model-7B" / "refs" / "main").write_text(content)
    with pytest.raises(ConfigError) as caught:
        hub.find(ID, "main", [tmp_path])
    assert "40-hex commit id" in str(caught.value) and content[:5] not in str(caught.value).split(": expected")[1]


def test_a_ref_that_is_a_fifo_or_device_is_refused_at_once(tmp_path):
    import os

    write_cached_repo(tmp_path, ID)
    ref = tmp_path / "models--org--model-7B" / "refs" / "main"
    ref.unlink()
    os.mkfifo(ref)
    with pytest.raises(ConfigError, match="regular file"):
        hub.find(ID, "main", [tmp_path])
    ref.unlink()
    ref.symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match="regular file"):
        hub.find(ID, "main", [tmp_path])


@pytest.mark.parametrize("index", ['[1, 2]', '{"weight_map": [1]}', '{"weight_map": {"a": 1}}', "not json", '{"weight_map": {"a": "../../x"}}'])
def test_a_broken_weight_index_is_one_line(tmp_path, index):
    snap = write_cached_repo(tmp_path, ID, shards=2)
    (snap / "model.safetensors.index.json").write_text(index)
    with pytest.raises(ConfigError) as caught:
        hub.find(ID, "main", [tmp_path])
    assert "\n" not in str(caught.value)
