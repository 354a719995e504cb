"""What a new session can choose from (targets, models) and a health check."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from assistant import store
from tools.targets import list_targets
from web.deps import RuntimeDep, SettingsDep
from web.schemas import Health, ModelsOut, TargetOut

router = APIRouter(tags=["meta"])

PROVIDER_HINTS = [
    "openai/gpt-4o-mini",
    "anthropic/claude-3-5-sonnet-latest",
    "gemini/gemini-1.5-flash",
    "ollama/llama3.1",
    "hosted_vllm/<model>",
    "azure/<deployment>",
    "bedrock/<model-id>",
]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("firstline")
    except PackageNotFoundError:
        return "0.0.0"


@router.get("/api/targets", response_model=list[TargetOut])
def targets(settings: SettingsDep, runtime: RuntimeDep) -> list[TargetOut]:
    """Sandbox scenarios, this host, the kube contexts found in the kubeconfig, enrolled nodes and label groups."""
    from assistant.nodes.target import node_targets

    found = list_targets(settings.targets)
    try:
        found += node_targets(runtime.engine())
    except (store.StoreUnavailable, sa.exc.SQLAlchemyError):
        pass  # nodes live in the database; everything else is listed without it
    return [TargetOut(**t) for t in found]


@router.get("/api/models", response_model=ModelsOut)
def models(settings: SettingsDep) -> ModelsOut:
    offered = list(dict.fromkeys([settings.model, *settings.models]))
    return ModelsOut(default=settings.model, models=offered, hints=PROVIDER_HINTS)


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(request: Request) -> Health | JSONResponse:
    """200 when the database answers; 503 otherwise (for load balancers and `firstline doctor`)."""
    runtime = request.app.state.runtime
    try:
        with runtime.engine().connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except (store.StoreUnavailable, sa.exc.SQLAlchemyError) as exc:
        body = Health(ok=False, db=f"unavailable: {str(exc).splitlines()[0][:200]}", version=_version())
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(ok=True, db=runtime.engine().dialect.name, version=_version())
