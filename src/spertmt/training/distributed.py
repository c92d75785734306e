"""Training on several processes (``torchrun``): the process group, gradient sums, collectives.

``torchrun --nproc-per-node N -m spertmt train CONFIG``, ``accelerate launch --multi_gpu
--num_processes N -m spertmt train CONFIG`` (torchrun's machinery underneath, on the CPU too)
or any launcher that sets torch's ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``
and ``MASTER_PORT`` starts N copies of ``spertmt train``; under mpirun (``accelerate launch
--cpu --mpirun_hostfile ...``) the rank and world size come from MPI's variables instead, as
Accelerate reads them. :func:`join_process_group` sees those variables and joins the
processes into one process group (gloo on the CPU, NCCL on CUDA, each process on GPU
``LOCAL_RANK``), with a time-out on the rendezvous and on every collective, so that a
misconfigured launch or a dead process ends every process with a one-line error instead of a
hang. Without them (a plain ``spertmt train``) nothing changes: one process, no group.

How the N processes split the work (:func:`~spertmt.training.loop.train_epoch`): an optimiser
step takes ``gradient_accumulation × N`` batches of ``train.batch_size`` documents, in the order
one process would (the same seeded generator in every process), and process ``r`` trains on
the ``r``-th, ``r+N``-th, ... of them. Every process draws the samples of all of them, so the
generators stay in step; each backpropagates its own batches, then the gradients are summed
over the processes (:meth:`ProcessGroup.sum_gradients`, one all-reduce per step) and every
process takes the same optimiser step. An N-process run is thus the one-process run with
``gradient_accumulation × N``: the same batches, samples, gradients and schedule (global
steps), up to the order of floating-point sums and to dropout, whose masks each process draws
from its own torch generator (seeded per epoch with the seed, the epoch and the rank, so that a
resumed run repeats them).

Gradients are summed by hand instead of by ``DistributedDataParallel``: SpERT's heads leave
some parameters without a gradient in some batches (no relation candidate), and the last step
of an epoch may have fewer batches than processes; one sum per step handles both, and the model
stays a plain module whose checkpoints are those of one process.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from spertmt.errors import ConfigError

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "ProcessGroup",
    "join_process_group",
    "launched_rank",
    "launched_world_size",
]

DEFAULT_TIMEOUT_S = 1800.0
"""Seconds a process waits for the others (rendezvous, each collective) before it gives up.

Rank 0 evaluates dev data and writes checkpoints while the others wait, so it must exceed
the longest evaluation; ``spertmt train --dist-timeout`` changes it."""

T = TypeVar("T")


# Where launchers put a process's place: torch's names (torchrun, accelerate launch
# --multi_gpu) first, then those of the MPI launchers (Intel MPI / MPICH, Open MPI, MVAPICH)
# that ``accelerate launch --cpu --mpirun_hostfile`` uses, the names Accelerate reads.
WORLD_SIZE_NAMES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
RANK_NAMES = ("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")
LOCAL_RANK_NAMES = (
    "LOCAL_RANK",
    "MPI_LOCALRANKID",
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "MV2_COMM_WORLD_LOCAL_RANK",
)


def _launch_variable(names: tuple[str, ...]) -> tuple[str, str] | None:
    """The first of ``names`` set in the environment, with its value."""
    for name in names:
        value = os.environ.get(name)
        if value is not None and value.strip():
            return name, value.strip()
    return None


def launched_world_size() -> int:
    """How many processes the launcher started (``WORLD_SIZE``; 1 without a launcher)."""
    found = _launch_variable(WORLD_SIZE_NAMES)
    try:
        return max(1, int(found[1])) if found else 1
    except ValueError:
        return 1


def launched_rank() -> int:
    """This process's rank as the launcher set it (``RANK``; 0 without a launcher or number)."""
    found = _launch_variable(RANK_NAMES)
    try:
        return int(found[1]) if found and launched_world_size() > 1 else 0
    except ValueError:
        return 0


@dataclass
class ProcessGroup:
    """This process's place among the training processes.

    Attributes:
        rank: This process, from 0 (the one that logs, evaluates and writes).
        world_size: How many processes train together (1: no group).
        local_rank: This process on its machine (its GPU index on CUDA).
        timeout_s: How long a collective waits for the other processes.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def enabled(self) -> bool:
        """Whether several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0: the process that logs, evaluates and writes the run."""
        return self.rank == 0

    def owns(self, position: int) -> bool:
        """Whether this process trains the ``position``-th batch of an optimiser step."""
        return position % self.world_size == self.rank

    # ------------------------------------------------------------------ collectives
    def _collective(self, what: str, run: Callable[[], T]) -> T:
        """Run a collective; a peer that died or timed out becomes one coded error."""
        try:
            return run()
        except (RuntimeError, ValueError, OSError) as error:
            raise lost_peer(self, what, error) from None

    def sum_gradients(self, parameters: list[torch.nn.Parameter]) -> None:
        """Sum every parameter's gradient over the processes (one all-reduce), in place.

        A parameter without a gradient in one process counts as zero there; one without a
        gradient in every process keeps none (the optimiser then skips it, as one process's
        would).
        """
        if not self.enabled or not parameters:
            return
        import torch.distributed as dist

        device = parameters[0].device
        pieces = []
        for p in parameters:
            grad = p.grad if p.grad is not None else torch.zeros_like(p)
            pieces.append(grad.reshape(-1).to(torch.float32))
        has = torch.tensor([p.grad is not None for p in parameters], dtype=torch.float32)
        flat = torch.cat([*pieces, has.to(device)])
        self._collective("summing gradients", lambda: dist.all_reduce(flat))
        offset = 0
        for p in parameters:
            size = p.numel()
            reduced = flat[offset : offset + size].view_as(p).to(p.dtype)
            offset += size
            p.grad = reduced.clone() if p.grad is None else p.grad.copy_(reduced)
        for p, seen in zip(parameters, flat[offset:].tolist(), strict=True):
            if seen == 0:
                p.grad = None

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Give every process rank 0's weights (they are equal already; this makes sure)."""
        if not self.enabled:
            return
        import torch.distributed as dist

        def send_all() -> None:
            with torch.no_grad():
                for tensor in [*module.parameters(), *module.buffers()]:
                    dist.broadcast(tensor, src=0)

        self._collective("sharing the initial weights", send_all)

    def share(self, value: Any, what: str) -> Any:
        """Rank 0's ``value`` (any picklable object), in every process."""
        if not self.enabled:
            return value
        import torch.distributed as dist

        box = [value if self.is_main else None]
        self._collective(what, lambda: dist.broadcast_object_list(box, src=0))
        return box[0]

    def gather(self, value: Any, what: str) -> list[Any]:
        """Every process's ``value``, in rank order, in every process."""
        if not self.enabled:
            return [value]
        import torch.distributed as dist

        found: list[Any] = [None] * self.world_size
        self._collective(what, lambda: dist.all_gather_object(found, value))
        return found

    def barrier(self, what: str) -> None:
        """Wait until every process is here."""
        if not self.enabled:
            return
        import torch.distributed as dist

        self._collective(what, dist.barrier)

    def on_main(self, what: str, work: Callable[[], T]) -> T:
        """Run ``work`` on rank 0 only; its result, or its error, reaches every process.

        A :class:`~spertmt.errors.SpertMTError` raised on rank 0 (a run folder that cannot be
        used, say) is raised again, with its code and message, in every other process.
        """
        from spertmt.errors import SpertMTError

        value: Any = None
        error: Exception | None = None
        if self.is_main:
            try:
                value = work()
            except Exception as raised:  # noqa: BLE001 - passed on to the other processes
                error = raised
        if not self.enabled:
            if error is not None:
                raise error
            return value
        portable = None
        if isinstance(error, SpertMTError):
            portable = ("coded", error.code, error.message)
        elif error is not None:
            portable = ("other", type(error).__name__, str(error))
        value, failure = self.share((value, portable), what)
        if error is not None:
            raise error
        if failure is not None:
            kind, code, message = failure
            if kind == "coded":
                raise SpertMTError(message, code=code)
            raise ConfigError(f"rank 0 failed while {what} ({code}: {message})", code="E241")
        return value


def lost_peer(group: ProcessGroup, what: str, error: BaseException) -> ConfigError:
    """The one-line error for a collective that failed: a process died or timed out."""
    reason = " ".join(str(error).split())[:300]
    return ConfigError(
        f"training process {group.rank} of {group.world_size} lost the others while {what} "
        f"({type(error).__name__}: {reason}); another process died or did not answer within "
        f"{group.timeout_s:g} s. See the other processes' errors, then resume with --resume",
        code="E241",
    )


def join_process_group(device: torch.device, *, timeout_s: float | None = None) -> ProcessGroup:
    """Join the process group a launcher (``torchrun``) started this process in.

    Without ``WORLD_SIZE`` > 1 (or MPI's ``PMI_SIZE``, ``OMPI_COMM_WORLD_SIZE``,
    ``MV2_COMM_WORLD_SIZE``) this is a no-op: one process, ``ProcessGroup()``.

    Args:
        device: The configured device: CPU processes join with gloo, CUDA ones with NCCL
            and run on GPU ``LOCAL_RANK``.
        timeout_s: Seconds to wait for the other processes at the rendezvous and in every
            collective (default :data:`DEFAULT_TIMEOUT_S`).

    Returns:
        This process's place in the group.

    Raises:
        ConfigError: E240 for launch variables that do not fit (a rank outside the world
            size, a missing ``MASTER_ADDR``), more CUDA processes on a machine than GPUs, or
            a rendezvous that fails or times out (a process that never started, another
            world size, an unreachable address); also for a lone process that
            ``accelerate launch`` started where several were asked for (no ``--multi_gpu``).
    """
    timeout = DEFAULT_TIMEOUT_S if timeout_s is None else float(timeout_s)
    world = launched_world_size()
    if world <= 1:
        _check_accelerate_started_several()
        return ProcessGroup(timeout_s=timeout)
    import torch.distributed as dist

    world_name, _ = _launch_variable(WORLD_SIZE_NAMES) or ("WORLD_SIZE", "")
    _, rank_text = _launch_variable(RANK_NAMES) or ("RANK", "")
    _, local_text = _launch_variable(LOCAL_RANK_NAMES) or ("LOCAL_RANK", rank_text)
    try:
        rank, local_rank = int(rank_text), int(local_text)
    except ValueError:
        raise ConfigError(
            f"{world_name}={world} but RANK is not set to a number; launch with torchrun "
            "(torchrun --nproc-per-node N -m spertmt train ...), which sets both",
            code="E240",
        ) from None
    if not 0 <= rank < world:
        raise ConfigError(
            f"RANK={rank} is outside WORLD_SIZE={world}; each process needs its own rank from "
            f"0 to {world - 1} (torchrun sets them)",
            code="E240",
        )
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise ConfigError(
            f"{' and '.join(missing)} not set for a training of {world} processes; launch "
            "with torchrun, or set them to the address and a free port of rank 0's machine",
            code="E240",
        )
    group = ProcessGroup(rank, world, local_rank, timeout)
    backend = "gloo"
    if device.type == "cuda":
        backend = "nccl"
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"process {rank} is local process {local_rank} of its machine, which has "
                f"{torch.cuda.device_count()} GPU(s); start at most one process per GPU "
                "(--nproc-per-node)",
                code="E240",
            )
        torch.cuda.set_device(local_rank)
    if dist.is_initialized():
        return group
    where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    try:
        dist.init_process_group(
            backend=backend,
            rank=rank,
            world_size=world,
            timeout=datetime.timedelta(seconds=timeout),
        )
    except (RuntimeError, ValueError, OSError) as error:
        reason = " ".join(str(error).split())[:300]
        raise ConfigError(
            f"process {rank} of {world} could not join the others at {where} within "
            f"{timeout:g} s ({type(error).__name__}: {reason}); check that all {world} "
            "processes started with the same WORLD_SIZE and rendezvous address, and that "
            "the address is reachable",
            code="E240",
        ) from None
    return group


def _check_accelerate_started_several() -> None:
    """Refuse a one-process ``accelerate launch`` that was asked for several processes.

    Without ``--multi_gpu`` (or a config file that sets it, or several GPUs that make
    Accelerate set it) and without mpirun, ``accelerate launch --num_processes N`` starts one
    process, giving it ``MASTER_ADDR`` as the only trace of N; training on would silently
    be one process with a global batch N times smaller.
    """
    launched_by_accelerate = "ACCELERATE_MIXED_PRECISION" in os.environ  # its launchers set it
    no_world = _launch_variable(WORLD_SIZE_NAMES) is None  # WORLD_SIZE=1 is one on purpose
    if launched_by_accelerate and no_world and os.environ.get("MASTER_ADDR"):
        raise ConfigError(
            "accelerate launch started this process alone, without WORLD_SIZE, although "
            "--num_processes or --num_machines asks for several: it starts several only with "
            "--multi_gpu (torchrun's machinery, on the CPU too) or, with --cpu, under mpirun "
            "(--mpirun_hostfile). Add --multi_gpu, or launch with --num_processes 1 (and unset "
            "MASTER_ADDR if you exported it yourself)",
            code="E240",
        )


def leave_process_group(group: ProcessGroup) -> None:
    """Leave the process group (at the end of training, also after an error)."""
    if not group.enabled:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


def process_device(device: torch.device, group: ProcessGroup) -> torch.device:
    """The device of this process: GPU ``LOCAL_RANK`` on CUDA, else ``device``."""
    if group.enabled and device.type == "cuda":
        return torch.device("cuda", group.local_rank)
    return device


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The torch seed (dropout) of process ``rank`` in ``epoch`` of a run of several.

    Example:
        >>> epoch_seed(1, 1, 0) != epoch_seed(1, 1, 1) != epoch_seed(1, 2, 0)
        True
    """
    return (seed * 1_000_003 + epoch * 1_009 + rank) % (2**63 - 1)
