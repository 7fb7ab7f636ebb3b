"""The generation flow: changed prompt files in, moderated, stamped, published videos out.

Orchestration only. Each stage is a task over plain functions from `generation/`,
`moderation/` and `vidflow/`; the GPU work runs in one child process per batch and GPU (see
`generation.batch`), which streams each finished job back, so the CPU stages of one job
(safety scoring, watermark, encode, sign, publish) run here while the child generates the
next one.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NONE
from pydantic import BaseModel, Field

from flows.deploy import gpu_slot
from flows.fanout import Shard, fan_out, liveness_key, runs_on_the_pool
from flows.reporting import append_github_summary, job_rows, markdown_summary
from flows.review_runs import open_review_runs
from flows.shards import assign_to_gpus, split_jobs, visible_gpu_ids
from generation.batch import GenerationResult, StepProgress, run_batch
from generation.presets import resolve_job
from moderation.input_image import check_input_images
from moderation.policy import load_policy
from moderation.prompt_filter import PromptModerator, Verdict
from provenance.label import LabelStyle
from provenance.stamp import ProvenanceReport, Stamper
from vidflow.changes import changed_prompt_files
from vidflow.claims import Claims, new_owner
from vidflow.errors import ConfigError, SpecError, VidflowError, plain
from vidflow.gallery import write_gallery
from vidflow.manifest import Manifest, RunReport, utc_now
from vidflow.owners import owner_gone, owner_token
from vidflow.review import ReviewBook, ReviewRecord, Stage, pending_summary
from vidflow.settings import Settings, get_settings
from vidflow.spec import Job, load_prompt_files, parse_prompt_file
from vidflow.store import Store

if TYPE_CHECKING:
    # torch comes with these: imported where frames are scored, so a run that only
    # moderates and fans out (a GitHub runner) never loads it, nor a shard before its work.
    from moderation.safety import SafetyReport, SafetyScorer


def check_setup(settings: Settings) -> Store:
    """Everything a run needs before it starts, each failure one `ConfigError` line: the
    store opens and takes writes, the policy loads, the signing credentials load, the
    prompts folder and default preset exist. Called by the command line before Prefect
    starts, so a broken setting never reaches a flow run's traceback."""
    from generation.presets import get_preset
    from provenance.c2pa_sign import load_credentials

    if not settings.prompts_dir.is_dir():
        raise ConfigError(
            f"prompts folder {settings.prompts_dir} is not a folder (VIDFLOW_PROMPTS_DIR)"
        )
    try:
        get_preset(settings.default_preset)
    except KeyError as exc:
        raise ConfigError(f"VIDFLOW_DEFAULT_PRESET: {exc.args[0]}") from None
    store = Store(settings.store_url or settings.artifacts_dir)
    store.check_writable()
    try:
        load_policy(settings.policy_path)
    except SpecError as exc:
        raise ConfigError(f"moderation policy: {exc}") from None
    try:
        load_credentials(settings)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"C2PA signing credentials: {exc}") from None
    return store


class Selection(BaseModel):
    """The prompt files a run looks at, and why."""

    paths: list[str]
    reason: str = Field(description="Explicit paths, a git diff, or a full scan and its cause.")
    error: str | None = Field(None, description="Why the requested range could not be read.")


class LoadedJobs(BaseModel):
    jobs: list[Job] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


@task(name="select-prompt-files", cache_policy=NONE)
def select_prompt_files(
    paths: list[str] | None, changed: str | None, prompts_dir: Path
) -> Selection:
    if paths:
        return Selection(paths=paths, reason="paths given")
    if changed is None:
        return Selection(paths=[str(prompts_dir)], reason="full scan")
    repo = prompts_dir.resolve().parent
    try:
        changes = changed_prompt_files(changed, repo, prompts_dir.resolve().name)
    except VidflowError as exc:  # a bad range is invalid input: reported, not a traceback
        return Selection(paths=[], reason="no files", error=plain(exc))
    if changes.full_scan:
        return Selection(paths=[str(prompts_dir)], reason=f"full scan: {changes.full_scan}")
    return Selection(
        paths=[str(repo / p) for p in changes.paths],
        reason=f"{len(changes.paths)} changed, {len(changes.deleted)} deleted in {changed}",
    )


@task(name="load-and-validate", cache_policy=NONE)
def load_jobs(
    selection: Selection, prompts_dir: Path, preset: str | None, default_preset: str
) -> LoadedJobs:
    report = load_prompt_files([Path(p) for p in selection.paths], prompts_dir)
    loaded = LoadedJobs(errors=list(report.errors))
    for source, spec in report.jobs:
        if preset:
            spec = spec.model_copy(update={"preset": preset})
        try:
            loaded.jobs.append(resolve_job(spec, source, default_preset))
        except SpecError as exc:
            loaded.errors.append(str(exc))
    return loaded


@task(name="moderate-prompts", cache_policy=NONE)
def moderate_prompts(jobs: list[Job], policy_path: Path | None) -> list[Verdict]:
    if not jobs:  # every file invalid: nothing to moderate (the classifier needs a batch)
        return []
    moderator = PromptModerator(load_policy(policy_path))
    return moderator.check_many([(job.prompt, job.negative_prompt) for job in jobs])


@task(name="moderate-input-images", cache_policy=NONE)
def moderate_images(jobs: list[Job], verdicts: list[Verdict], scorer: RunScorer) -> list[Verdict]:
    return check_input_images([job.image for job in jobs], verdicts, scorer)


class RunScorer:
    """The run's one safety scorer, built when first asked for: its detectors load once
    for the input images and every batch of output frames, and not at all when neither
    comes (torch stays unloaded on a runner that only moderates and fans out)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._scorer: SafetyScorer | None = None

    def __call__(self) -> SafetyScorer:
        if self._scorer is None:
            from moderation.safety import SafetyScorer

            self._scorer = SafetyScorer.from_settings(self.settings)
        return self._scorer


@task(name="generate", cache_policy=NONE)
def next_generated(results: Iterator[GenerationResult]) -> GenerationResult:
    """Wait for the generation child to finish its next job."""
    return next(results)


@task(name="score-output-safety", cache_policy=NONE)
def score_output(frames_path: str, scorer: SafetyScorer) -> SafetyReport:
    return scorer.score(np.load(frames_path, mmap_mode="r"))


@task(name="stamp-provenance", cache_policy=NONE)
def stamp_video(frames_path: str, job: Job, stamper: Stamper, out_path: Path) -> ProvenanceReport:
    return stamper.stamp(np.load(frames_path, mmap_mode="r"), job.fps, out_path, job)


# Named by job hash, so the Prefect UI (and the fan-out tests) can count each job's publishes.
@task(name="publish", task_run_name="publish-{manifest.job_hash:.16}", cache_policy=NONE)
def publish(manifest: Manifest, video: Path, store: Store) -> Manifest:
    return store.save(manifest, video)


def name_taken(store: Store, job: Job, prompts_dir: Path) -> str | None:
    """Why `job` may not publish under its id, or None.

    Each published name holds one video. Another prompt file that still declares this id
    owns it, so a different video from this file would silently replace that one (and
    the ledger would call the old job finished): that is an error naming both files. The
    same file changing its job, or a file whose job is gone, replaces the video.
    """
    current = store.published(job.id)
    if current is None or current.job_hash == job.content_hash:
        return None
    other = Path(current.source)
    if other.resolve() == Path(job.source).resolve() or not other.exists():
        return None
    try:
        still_declared = any(
            j.id == job.id for j in parse_prompt_file(other, root=prompts_dir).jobs
        )
    except SpecError:
        still_declared = True  # unreadable now, but may be fixed: never lose its video
    if not still_declared:
        return None
    return (
        f"{job.source} job '{job.id}' field 'id': the id is already published from "
        f"{current.source}, a different video; rename the job in one of the two files"
    )


def _manifest(job: Job, **fields: object) -> Manifest:
    return Manifest.model_validate(
        {
            "job_id": job.id,
            "source": job.source,
            "job_hash": job.content_hash,
            "job": job.model_dump(mode="json"),
            **fields,
        }
    )


def _finish_job(
    job: Job,
    verdict: Verdict,
    result: GenerationResult,
    scorer: SafetyScorer,
    stamper: Stamper,
    store: Store,
    work_dir: Path,
) -> Manifest:
    """Score, stamp and publish (or quarantine) one generated job."""
    base = {
        "verdict": verdict.model_dump(mode="json"),
        "plan": result.plan,
        "device": result.device,
        "telemetry": result.telemetry or None,
        "reviews": ReviewBook(store).stamps(job.content_hash),
    }
    if result.error or result.frames_path is None:
        error = result.error or "no frames"
        return _manifest(job, status="failed", error=error, timings=result.timings, **base)
    video = work_dir / f"{job.content_hash}.mp4"
    try:
        safety = score_output(result.frames_path, scorer)
        provenance = stamp_video(result.frames_path, job, stamper, video)
        status = "quarantined" if safety.flagged else "published"
        timings = result.timings | {
            "safety_s": safety.seconds,
            "provenance_s": sum(provenance.timings.values()),
        }
        manifest = _manifest(
            job,
            status=status,
            safety=safety.model_dump(mode="json"),
            provenance=provenance.model_dump(mode="json"),
            timings=timings,
            **base,
        )
        return publish(manifest, video, store)
    except Exception as exc:  # noqa: BLE001 - one job's failure is reported; the batch goes on
        error = f"{type(exc).__name__}: {exc}"
        return _manifest(job, status="failed", error=error, timings=result.timings, **base)
    finally:
        Path(result.frames_path).unlink(missing_ok=True)
        video.unlink(missing_ok=True)


def remove_abandoned_work(parent: Path) -> list[str]:
    """Remove the work folders (frames, unpublished videos) of runs that were killed: each
    is named after the process that made it, and that process is gone."""
    removed = []
    if parent.is_dir():
        for old in parent.iterdir():
            if old.is_dir() and owner_gone(old.name, old.stat().st_mtime):
                shutil.rmtree(old, ignore_errors=True)
                removed.append(f"removed the work folder of a killed run ({old.name})")
    return removed


def _merged(
    batches: list[Generator[GenerationResult, None, None]],
) -> Generator[GenerationResult, None, None]:
    """Results of several generation children (one per GPU), in the order they finish."""
    if len(batches) == 1:
        yield from batches[0]
        return
    results: queue.Queue[GenerationResult | BaseException | None] = queue.Queue()
    stop = threading.Event()

    def drain(batch: Generator[GenerationResult, None, None]) -> None:
        try:
            for result in batch:
                results.put(result)
                if stop.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            results.put(exc)
        finally:
            batch.close()  # stops its child if the consumer left early
            results.put(None)

    threads = [threading.Thread(target=drain, args=(b,), daemon=True) for b in batches]
    for thread in threads:
        thread.start()
    live = len(threads)
    try:
        while live:
            item = results.get()
            if item is None:
                live -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()


def _generate_batch(
    jobs: list[tuple[Job, Verdict]],
    settings: Settings,
    store: Store,
    run_scorer: RunScorer,
    on_progress: Callable[[StepProgress], None] | None = None,
) -> Iterator[Manifest]:
    """Generate (one child per visible GPU), score, stamp and publish jobs this run holds."""
    work_dir = settings.cache_dir / "work" / owner_token()
    work_dir.mkdir(parents=True)
    by_hash = {job.content_hash: (job, verdict) for job, verdict in jobs}
    scorer = run_scorer()
    stamper = Stamper(
        settings,
        LabelStyle(
            corner=settings.label_corner,
            height_share=settings.label_height_share,
            opacity=settings.label_opacity,
        ),
    )
    # A host with several GPUs: shards of one preset, packed onto one child per GPU.
    gpus: list[str | None] = list(visible_gpu_ids(settings.gpus)) or [None]
    plain = [job for job, _ in jobs]
    groups = assign_to_gpus(split_jobs(plain, len(gpus)), len(gpus)) if len(gpus) > 1 else [plain]
    # The children share the run's CPU budget (one worker per GPU has one child).
    child_threads = max(1, settings.cpu_budget() // len(groups))
    # One GPU slot per child: runs from GitHub and from Prefect workers queue here.
    with gpu_slot(gpus=len(groups)):
        batches = [
            run_batch(
                group,
                work_dir,
                cache_dir=settings.cache_dir,
                timeout_s=settings.generation_timeout_s,
                on_progress=on_progress,
                env=None if gpu is None else {"CUDA_VISIBLE_DEVICES": gpu},
                cpu_threads=child_threads,
            )
            for group, gpu in zip(groups, gpus, strict=False)
        ]
        results = _merged(batches)
        try:
            for _ in range(len(jobs)):
                result = next_generated(results)
                job, verdict = by_hash[result.job_hash]
                yield _finish_job(job, verdict, result, scorer, stamper, store, work_dir)
        finally:
            results.close()  # stops the children if the loop ended early
            shutil.rmtree(work_dir, ignore_errors=True)


def _generate_and_publish(
    jobs: list[tuple[Job, Verdict]],
    settings: Settings,
    store: Store,
    run_id: str,
    run_scorer: RunScorer,
    on_progress: Callable[[StepProgress], None] | None = None,
) -> Iterator[Manifest]:
    """Claim each job; make those this run holds, wait for those another run is making.

    A job another run holds is reported from the ledger once that run publishes it; if
    that run dies (or fails the job) its claim lapses or is released, and this run takes
    the job and makes it. So two runs never make one job, and none is left unmade.
    """
    logger = get_run_logger()
    claims = Claims(store, new_owner(run_id), settings.claim_lease_s)
    pending = {job.content_hash: (job, verdict) for job, verdict in jobs}
    with claims.keep() as held:
        while pending:
            mine: list[tuple[Job, Verdict]] = []
            for job_hash, (job, verdict) in list(pending.items()):
                taken = held.take(job_hash)
                previous = store.lookup(job_hash)  # finished meanwhile by another run
                if previous is not None:
                    held.release(job_hash)
                    del pending[job_hash]
                    yield store.republish(previous, job.id, job.source, job.model_dump(mode="json"))
                elif taken:
                    mine.append(pending.pop(job_hash))
            if mine:
                for manifest in _generate_batch(mine, settings, store, run_scorer, on_progress):
                    held.release(manifest.job_hash)
                    yield manifest
            elif pending:
                logger.info("waiting for %d job(s) another run is making", len(pending))
                time.sleep(min(2.0, settings.claim_lease_s / 4))


@flow(name="generate-videos")
def generate_videos(
    paths: list[str] | None = None,
    changed: str | None = None,
    preset: str | None = None,
    dry_run: bool = False,
    job_hashes: list[str] | None = None,
) -> RunReport:
    """Generate, moderate, stamp and publish the videos of the selected prompt files.

    paths: prompt files or folders (default: every file under the prompts folder).
    changed: "BASE..HEAD": only prompt files added or modified between two revisions.
    preset: model preset for every job, overriding the files.
    dry_run: validate and moderate only; generate nothing.
    job_hashes: only the jobs with these content hashes (a reviewed job); others are left alone.
    """
    log = get_run_logger()
    settings = get_settings()
    store = check_setup(settings)
    for line in store.recover() + remove_abandoned_work(settings.cache_dir / "work"):
        log.warning("cleanup: %s", line)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
    report = RunReport(run_id=run_id, dry_run=dry_run)
    try:
        _run(report, store, settings, paths, changed, preset, dry_run, job_hashes)
    except Exception:
        _record(report, store, settings)
        raise
    except BaseException:
        # Ctrl-C reaches Prefect's temporary server too: with the API gone, only the files.
        _record(report, store, settings, to_prefect=False)
        raise
    # 5. Record the run: report, gallery, Prefect artifacts, GitHub job summary.
    _record(report, store, settings)
    return report


def _run(
    report: RunReport,
    store: Store,
    settings: Settings,
    paths: list[str] | None,
    changed: str | None,
    preset: str | None,
    dry_run: bool,
    job_hashes: list[str] | None = None,
) -> None:
    log = get_run_logger()
    # 1. Select and load the prompt files; a broken file is reported, the others go on.
    selection = select_prompt_files(paths, changed, settings.prompts_dir)
    log.info("prompt files: %s (%s)", len(selection.paths), selection.reason)
    loaded = load_jobs(selection, settings.prompts_dir, preset, settings.default_preset)
    if job_hashes is not None:
        loaded.jobs = [job for job in loaded.jobs if job.content_hash in job_hashes]
    report.errors = ([selection.error] if selection.error else []) + loaded.errors
    for error in report.errors:
        log.error(error)

    # 2. Moderate every prompt, and every input image, before anything is generated.
    verdicts = moderate_prompts(loaded.jobs, settings.policy_path)
    run_scorer = RunScorer(settings)
    verdicts = moderate_images(loaded.jobs, verdicts, run_scorer)
    todo: list[tuple[Job, Verdict]] = []
    book = ReviewBook(store)
    held: list[ReviewRecord] = []
    for job, verdict in zip(loaded.jobs, verdicts, strict=True):
        # A held prompt goes on only with a recorded approval of this exact content; a
        # rejected prompt or video is never made again.
        verdict_json = verdict.model_dump(mode="json")
        found = [book.get(job.content_hash, stage) for stage in ("prompt", "output")]
        reviews = [r for r in found if r is not None]
        rejected = [r for r in reviews if r.rejected]
        approved = any(r.approved and r.stage == "prompt" for r in reviews)
        status = None
        if verdict.action == "block" or rejected:
            status, stamps = "blocked", [r.stamp() for r in rejected]
        elif verdict.action == "review" and not approved:
            record = book.hold(_manifest(job, status="review", verdict=verdict_json), "prompt")
            held.append(record)
            status, stamps = "review", [record.stamp()]
        if status is not None:
            report.manifests.append(
                _manifest(job, status=status, verdict=verdict_json, reviews=stamps)
            )
            log.warning("%s %s: %s (%s)", job.id, status, verdict.category, verdict.rule)
            continue
        # 3. An id another file still publishes under is an error, never an overwrite.
        taken = name_taken(store, job, settings.prompts_dir)
        if taken is not None:
            report.errors.append(taken)
            log.error(taken)
            continue
        # A job whose hash is in the ledger is finished: reuse it, never regenerate.
        previous = store.lookup(job.content_hash)
        if previous is not None:
            report.manifests.append(
                store.republish(previous, job.id, job.source, job.model_dump(mode="json"))
            )
        elif dry_run:
            report.manifests.append(
                _manifest(job, status="skipped", verdict=verdict.model_dump(mode="json"))
            )
        else:
            todo.append((job, verdict))

    # 4. Generate, score, stamp and publish, one job at a time as the child finishes it.
    if todo:
        log.info("generating %d job(s)", len(todo))
        progress = create_progress_artifact(
            progress=0.0,
            key="vidflow-progress",
            description="Denoising steps and jobs finished in this run (%)",
        )
        assert isinstance(progress, UUID)  # sync call: the id itself, not a coroutine
        fanout = settings.fanout_deployment
        if fanout and runs_on_the_pool(fanout):
            log.info("this run holds a worker of %s's pool: generating here", fanout)
            fanout = None
        if fanout:
            # Many GPUs or hosts: shards on the work pool; this run needs no GPU.
            def shard_done(shard: Shard, finished: int) -> None:
                line = shard.progress(finished, len(todo))
                log.info(line)
                append_github_summary(line + "\n")
                update_progress_artifact(progress, progress=100.0 * finished / len(todo))

            report.manifests.extend(fan_out(todo, settings, store, report.run_id, shard_done))
        else:
            finished = 0

            def on_step(step: StepProgress) -> None:
                # A job's share of the bar fills with its denoising steps; the log says each.
                log.info("%s: step %d/%d (%.1f s)", step.job_id, step.step, step.steps,
                         step.elapsed_s)  # fmt: skip
                share = (finished + step.step / step.steps) / len(todo)
                update_progress_artifact(progress, progress=round(100.0 * share, 1))

            made = _generate_and_publish(todo, settings, store, report.run_id, run_scorer, on_step)
            for manifest in made:
                finished += 1
                report.manifests.append(manifest)
                log.info("%s: %s", manifest.job_id, manifest.status)
                update_progress_artifact(progress, progress=100.0 * finished / len(todo))

    # A quarantined video waits for a person too; each held job gets a review run.
    for manifest in report.manifests:
        if manifest.status == "quarantined":
            record = book.hold(manifest, "output")
            if record.pending:
                held.append(record)
    if held and not dry_run:
        open_review_runs(held, book)


def _waiting(report: RunReport, store: Store) -> list[ReviewRecord]:
    """This run's jobs that wait for a person (none listed when the store cannot be read)."""
    book = ReviewBook(store)
    found: list[ReviewRecord] = []
    try:
        for m in report.manifests:
            stage: Stage = "prompt" if m.status == "review" else "output"
            record = book.get(m.job_hash, stage) if m.status in ("review", "quarantined") else None
            if record is not None and record.pending and record not in found:
                found.append(record)
    except OSError:
        return []
    return found


def _record(report: RunReport, store: Store, settings: Settings, to_prefect: bool = True) -> None:
    """Write the run report, gallery and summaries, however the run ended; a store that
    fails here (a full disk) gets the report written under the cache folder instead."""
    log = get_run_logger()
    report.finished_at = utc_now()
    try:
        store.save_run(report)
        if store.local_root is not None:
            # Stored jobs from every run, plus this run's jobs that have nothing stored.
            unstored = [m for m in report.manifests if m.status not in ("published", "quarantined")]
            gallery = write_gallery(store.manifests() + unstored, store.local_root)
            log.info("gallery: %s", gallery)
    except OSError as exc:
        fallback = settings.cache_dir / "runs" / f"{report.run_id}.json"
        log.error(
            "store %s: cannot write the run report (%s); written to %s", store.url, exc, fallback
        )
        fallback.parent.mkdir(parents=True, exist_ok=True)
        tmp = fallback.with_name(f".{fallback.name}.partial")
        tmp.write_text(report.model_dump_json(indent=2), encoding="utf-8")
        tmp.replace(fallback)
    summary = markdown_summary(report) + pending_summary(_waiting(report, store))
    append_github_summary(summary)
    if to_prefect:
        create_markdown_artifact(markdown=summary, key="vidflow-run", description="vidflow run")
        create_table_artifact(job_rows(report), key="vidflow-jobs", description="vidflow jobs")


@flow(name="generate-shard")
def generate_shard(
    run_id: str,
    shard: int,
    attempt: int,
    jobs: list[dict[str, Any]],
    verdicts: list[dict[str, Any]],
    store_url: str | None = None,
) -> int:
    """One shard of a fanned-out run, on a GPU worker: make, stamp and publish its jobs.

    The parent run (flows.fanout) already validated and moderated every job; this run
    holds a liveness claim while it works, so the parent can tell it died, and writes its
    manifests to the store for the parent to gather. Returns how many jobs it reported.
    store_url: the parent's store (every worker must reach it); default: this worker's.
    """
    settings = get_settings()
    store = Store(store_url or settings.store_url or settings.artifacts_dir)
    # What a killed shard on this host left (staged publishes, frames) is finished or removed.
    for line in store.recover() + remove_abandoned_work(settings.cache_dir / "work"):
        get_run_logger().warning("cleanup: %s", line)
    loaded = [
        (Job.model_validate(job), Verdict.model_validate(verdict))
        for job, verdict in zip(jobs, verdicts, strict=True)
    ]
    report = RunReport(run_id=f"{run_id}-shard-{shard}-try-{attempt}")
    liveness = Claims(store, new_owner(f"{run_id}-shard-{shard}"), settings.claim_lease_s)
    with liveness.keep() as held:
        held.take(liveness_key(run_id, shard, attempt))
        for manifest in _generate_and_publish(
            loaded, settings, store, f"{run_id}-{shard}", RunScorer(settings)
        ):
            report.manifests.append(manifest)
            get_run_logger().info("%s: %s", manifest.job_id, manifest.status)
        # Written while the liveness claim is held: the parent never sees a shard that has
        # let go of its claim without its report.
        report.finished_at = utc_now()
        store.save_shard_report(run_id, shard, report)
    return len(report.manifests)
