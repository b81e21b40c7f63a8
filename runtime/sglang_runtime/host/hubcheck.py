"""Before SGLang downloads a model, ask the Hub whether it can: in seconds, with one line saying why not.

Without this, SGLang learns only after its imports (seconds here, longer on a
GPU host, 53 s without network) that the repo does not exist, is gated or the
token is wrong — as a multi-line traceback. `serve` asks first, for a model
that is neither bundled, nor cached, nor a local directory, unless offline
(HF_HUB_OFFLINE) or SGLANG_HUB_CHECK=0. huggingface_hub does the asking, so
HF_ENDPOINT, HF_TOKEN and the saved token work as they do for SGLang.
"""

from __future__ import annotations

from typing import Mapping

from ..util.deadline import DeadlineExceeded, wall_clock
from ..util.errors import ConfigError, PreflightError

TIMEOUT = 10.0  # seconds, wall-clock, for the whole check


def check(repo_id: str, revision: str, env: Mapping[str, str], timeout: float = TIMEOUT) -> None:
    """Return if the Hub has `repo_id` at `revision` and lets us read it; else raise one line."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    endpoint = env.get("HF_ENDPOINT") or constants.ENDPOINT
    page = f"{endpoint.rstrip('/')}/{repo_id}"
    token = env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or None
    try:
        with wall_clock(timeout):
            HfApi(endpoint=endpoint, token=token).model_info(repo_id, revision=revision, timeout=timeout)
    except GatedRepoError:
        who = "HF_TOKEN's account has no access yet" if token else "no HF_TOKEN is set"
        raise ConfigError("SGLANG_MODEL", repo_id,
                          f"a model this host may download (gated on the Hub and {who}: request access at {page}, "
                          "then set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise ConfigError("SGLANG_MODEL_REVISION", revision, f"a branch, tag or commit that {page} has") from None
    except RepositoryNotFoundError:
        private = "; if it is private, set HF_TOKEN to a token that can read it" if not token else \
            "; HF_TOKEN cannot see it either"
        raise ConfigError("SGLANG_MODEL", repo_id, f"a model the Hub has (none at {page}{private})") from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 401:
            raise ConfigError("HF_TOKEN", "***", f"a token the Hub accepts (it answered 401 for {page})") from None
        raise PreflightError(f"SGLANG_MODEL={repo_id!r}: the Hub answered {status or 'an error'} for {page}; "
                             "set SGLANG_HUB_CHECK=0 to start anyway") from None
    except (DeadlineExceeded, OSError, Exception) as exc:  # noqa: BLE001 - network errors differ by HTTP library
        reason = "no answer" if isinstance(exc, DeadlineExceeded) else type(exc).__name__
        raise PreflightError(f"SGLANG_MODEL={repo_id!r}: cannot reach the Hub at {endpoint} to check it ({reason} "
                             f"within {timeout:.0f} s); set SGLANG_HUB_CHECK=0 to start anyway, or bundle the model "
                             "and set HF_HUB_OFFLINE=1") from None
