"""No refusal of extra arguments ever quotes a secret value: generated values (hypothesis), every
secret-bearing flag and its prefixes and misspellings, split, joined with '=' or broken by a space."""

from __future__ import annotations

from hypothesis import given, settings as hsettings, strategies as st

from sglang_runtime.launch import argv, flagdata
from sglang_runtime.util.errors import ConfigError

RELEASES = flagdata.known()

# Any text, behind a marker no message contains by itself (a secret "--ap" would match "--api-key").
SECRET = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20).map(lambda s: "k3Y" + s)


@hsettings(max_examples=300, deadline=None)
@given(secret=SECRET, flag=st.sampled_from(["--admin-api-key", "--admin-api", "--api-key", "--ssl-keyfile-password",
                                            "--api-kee", "--admin-api-kee"]),
       form=st.sampled_from(["split", "equals", "space"]),
       after=st.sampled_from([[], ["oops"], ["--bogus-flag"], ["--port", "1"], ["--enable-mixed-chunk=1"]]),
       version=st.sampled_from(RELEASES[1:]))
def test_secret_values_never_appear_in_a_refusal(secret, flag, form, after, version):
    tokens = {"split": [flag, secret], "equals": [f"{flag}={secret}"], "space": [flag, *secret.split(" ", 1)]}[form]
    try:
        argv.check_extra("SGLANG_EXTRA_ARGS", tokens + after, flagdata.load(version))
    except ConfigError as exc:
        for shown in (str(exc), str(exc.value)):
            assert secret not in shown and secret.split(" ", 1)[0] not in shown
