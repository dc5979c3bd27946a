"""Secrets in a live cluster (kmock): absent, of the wrong type, without the key, swapped, refused."""

from __future__ import annotations

from nimdoctor.catalog import Catalog
from nimdoctor.workloads.collect import reduce_secret
from tests.kube import Emulator
from tests.workloads.cluster import (
    NS,
    api_key_secret,
    b64,
    forbid,
    nimservice,
    put,
    registry_secret,
)
from tests.workloads.conftest import judge, problems


def test_a_healthy_namespace_has_no_problems(live: Emulator, catalog: Catalog) -> None:
    judged = judge(live, catalog)
    assert problems(judged) == {}
    assert judged["llm", "NIM-WL-007"].message == (
        "secret ngc-api-secret holds NGC_API_KEY (the NIM container reads NGC_API_KEY through a secretKeyRef)"
    )


def test_absent_secrets_fail_both_secret_checks(live: Emulator, catalog: Catalog) -> None:
    put(
        live,
        nimservice(
            "other",
            authSecret="missing-key",
            pull=["missing-pull"],
        ),
    )
    judged = judge(live, catalog)
    assert judged["other", "NIM-WL-007"].status.value == "fail"
    assert judged["other", "NIM-WL-007"].message == "secret missing-key not found"
    assert judged["other", "NIM-WL-008"].message == "secret missing-pull not found"
    assert "kubectl create secret generic missing-key -n nim-service" in str(
        judged["other", "NIM-WL-007"].fix
    )


def test_pull_secret_of_the_wrong_type(live: Emulator, catalog: Catalog) -> None:
    put(live, {**api_key_secret("ngc-secret"), "data": {"password": b64("x")}})
    judged = judge(live, catalog)
    finding = judged["llm", "NIM-WL-008"]
    assert finding.status.value == "fail"
    assert "secret ngc-secret is Opaque, not kubernetes.io/dockerconfigjson" in finding.message


def test_auth_secret_without_the_key(live: Emulator, catalog: Catalog) -> None:
    put(live, api_key_secret(key="API_KEY"))
    finding = judge(live, catalog)["llm", "NIM-WL-007"]
    assert finding.status.value == "fail"
    assert finding.message == (
        "secret ngc-api-secret has no key NGC_API_KEY (keys: API_KEY): "
        "the NIM container reads NGC_API_KEY through a secretKeyRef"
    )
    assert finding.evidence == {"secret": "ngc-api-secret", "type": "Opaque", "keys": ["API_KEY"]}


def test_swapped_secrets_are_named_as_swapped(live: Emulator, catalog: Catalog) -> None:
    put(
        live,
        nimservice(
            "llm",
            authSecret="ngc-secret",
            pull=["ngc-api-secret"],
        ),
    )
    judged = judge(live, catalog)
    assert judged["llm", "NIM-WL-009"].status.value == "fail"
    assert judged["llm", "NIM-WL-009"].message.startswith(
        "swapped: auth secret ngc-secret is a registry login"
    )
    assert judged["llm", "NIM-WL-007"].status.value == "fail"
    assert judged["llm", "NIM-WL-008"].status.value == "fail"


def test_one_secret_for_both_roles_fails_unless_it_holds_both(live: Emulator, catalog: Catalog) -> None:
    put(live, nimservice("llm", authSecret="ngc-secret"))
    assert judge(live, catalog)["llm", "NIM-WL-009"].status.value == "fail"
    both = registry_secret()
    both["data"]["NGC_API_KEY"] = b64("nvapi-xxxx")
    put(live, both)
    assert judge(live, catalog)["llm", "NIM-WL-009"].status.value == "pass"


def test_registry_login_for_another_registry_or_user(live: Emulator, catalog: Catalog) -> None:
    put(live, registry_secret(host="https://index.docker.io/v1/"))
    assert (
        judge(live, catalog)["llm", "NIM-WL-008"].message
        == "secret ngc-secret has no credentials for nvcr.io"
    )
    put(live, registry_secret(host="https://nvcr.io/v2/", username="alice"))
    finding = judge(live, catalog)["llm", "NIM-WL-008"]
    assert (finding.status.value, finding.message) == (
        "warn",
        "the nvcr.io login's username is not $oauthtoken (NGC's convention)",
    )


def test_a_forbidden_secret_read_makes_the_secret_checks_skip_with_the_reason(
    live: Emulator, catalog: Catalog
) -> None:
    reason = 'secrets "ngc-api-secret" is forbidden: User "system:serviceaccount:nimdoctor:audit" cannot get'
    forbid(live, f"/api/v1/namespaces/{NS}/secrets/ngc-api-secret", reason)
    judged = judge(live, catalog)
    for check in ("NIM-WL-007", "NIM-WL-009"):
        finding = judged["llm", check]
        assert finding.status.value == "skip", check
        assert "cannot read secret nim-service/ngc-api-secret: 403 Forbidden: secrets" in finding.message
    assert judged["llm", "NIM-WL-008"].status.value == "pass"  # the pull secret is readable


def test_secrets_are_read_one_by_one_with_get_never_listed(live: Emulator, catalog: Catalog) -> None:
    judge(live, catalog)
    secret_requests = [r for r in live.requests() if "/secrets" in str(r.url)]
    assert secret_requests
    assert all(r.method == "GET" and str(r.url).rsplit("/", 2)[-2] == "secrets" for r in secret_requests)
    assert {str(r.url).rsplit("/", 1)[-1] for r in secret_requests} == {"ngc-api-secret", "ngc-secret"}


def test_reducing_a_secret_keeps_type_and_key_names_only() -> None:
    body = registry_secret(username="$oauthtoken", password="s3cr3t-value")
    info = reduce_secret(NS, "ngc-secret", body, "$oauthtoken")
    assert info.keys == (".dockerconfigjson",)
    assert info.docker is not None
    assert info.docker.hosts == {"nvcr.io"} == info.docker.oauth_hosts
    assert "s3cr3t" not in repr(info)
    broken = {**body, "data": {".dockerconfigjson": "not base64!"}}
    assert reduce_secret(NS, "x", broken, "$oauthtoken").docker.error == (  # type: ignore[union-attr]
        ".dockerconfigjson is not base64-encoded JSON"
    )
