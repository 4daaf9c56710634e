"""The recurrence of one layer and direction as one persistent Triton kernel (LSTM, GRU, tanh RNN).

The input projection of every step is one matmul before the kernel (premul). The kernel's grid splits the hidden
units: program p owns units [p * BLOCK_H, (p + 1) * BLOCK_H) and loads its rows of W_hh (every gate) once, keeping
them on chip across all time steps. Each step needs the whole previous h, written by every program, so the programs
meet at a grid-wide barrier after each step: one int32 counter per step in global memory, each program adds 1 with
release semantics once its slice of h_t is stored, then spins (acquire) until the counter reaches the grid size.
A counter per step (never reset) and h_t kept for every t (hbuf[t + 1], never overwritten) leave no reuse hazard.

A spin barrier is only safe when every program is resident at once: the grid must not exceed the number of SMs
(one program per SM, each fitting in one SM's registers), which `block_h_for` arranges and `check_grid` enforces.
The spin is bounded (MAX_SPIN polls): a grid that is not co-resident sets a flag and raises instead of hanging.

PERSISTENT=False runs the same step body for steps [T_BEGIN, T_END) with no barrier: one launch per step, the
kernel boundary as the synchronization. That is how Triton's interpreter runs it on the CPU (its programs run one
after another, so a spin barrier would wait forever); the CPU tests check that form.
All arithmetic is float32, whatever the model's dtype (inputs and weights are rounded to that dtype first).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

FAMILY_CODES = {"lstm": 0, "gru": 1, "rnn_tanh": 2}
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1}
MAX_SPIN = 1 << 22  # polls, a few seconds: a step takes microseconds once every program is resident
# W_hh elements per warp held on chip (~64 registers a thread for the weights)
WEIGHTS_PER_WARP = 2048
# the last launch's grid and compiled resources (registers, spills, shared memory), for the co-residency check
LAST_LAUNCH: dict[str, int] = {}
# elements of the (batch block x hidden x unit block) product one program forms at once
PRODUCT_ELEMENTS = 1 << 14


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def _tanh(x):
    return 2.0 * _sigmoid(2.0 * x) - 1.0


@triton.jit
def _gate(w_ptr, b_ptr, gate, H, offs_k, offs_j, mask_k, mask_j):
    """W_hh[gate * H + j, :] for this program's units j, as a (BLOCK_K, BLOCK_H) tile, and its bias."""
    rows = gate * H + offs_j
    w = tl.load(w_ptr + rows[None, :] * H + offs_k[:, None], mask=mask_k[:, None] & mask_j[None, :], other=0.0)
    b = tl.load(b_ptr + rows, mask=mask_j, other=0.0)
    return w, b


@triton.jit
def _matvec(h, w, b):
    """(BLOCK_B, BLOCK_K) @ (BLOCK_K, BLOCK_H) + b, as a broadcast product summed over K (no tl.dot: tiny batch)."""
    return tl.sum(h[:, :, None] * w[None, :, :], axis=1) + b[None, :]


@triton.jit
def recurrence_kernel(
    gx_ptr, w_ptr, b_ptr, hbuf_ptr, cbuf_ptr, sync_ptr, err_ptr,
    T_BEGIN: tl.constexpr, T_END: tl.constexpr, B: tl.constexpr, H: tl.constexpr,
    FAMILY: tl.constexpr, PERSISTENT: tl.constexpr, MAX_POLLS: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    """gx (T, B, G*H) = x W_ih^T + b_ih; hbuf (T + 1, B, H) with hbuf[0] = h0; cbuf (B, H) = c (LSTM), in place."""
    pid = tl.program_id(0)
    n_programs = tl.num_programs(0)
    offs_j = pid * BLOCK_H + tl.arange(0, BLOCK_H)
    offs_k = tl.arange(0, BLOCK_K)
    mask_j = offs_j < H
    mask_k = offs_k < H
    G = 4 if FAMILY == 0 else (3 if FAMILY == 1 else 1)
    # this program's rows of W_hh: loaded once, on chip for every step
    w0, b0 = _gate(w_ptr, b_ptr, 0, H, offs_k, offs_j, mask_k, mask_j)
    w1, b1 = w0, b0
    w2, b2 = w0, b0
    w3, b3 = w0, b0
    if FAMILY != 2:
        w1, b1 = _gate(w_ptr, b_ptr, 1, H, offs_k, offs_j, mask_k, mask_j)
        w2, b2 = _gate(w_ptr, b_ptr, 2, H, offs_k, offs_j, mask_k, mask_j)
    if FAMILY == 0:
        w3, b3 = _gate(w_ptr, b_ptr, 3, H, offs_k, offs_j, mask_k, mask_j)
    for t in range(T_BEGIN, T_END):
        for b_start in range(0, B, BLOCK_B):
            offs_b = b_start + tl.arange(0, BLOCK_B)
            mask_b = offs_b < B
            tile = mask_b[:, None] & mask_j[None, :]
            h_prev = tl.load(hbuf_ptr + t * B * H + offs_b[:, None] * H + offs_k[None, :],
                             mask=mask_b[:, None] & mask_k[None, :], other=0.0, cache_modifier=".cg")  # fmt: skip
            gx = gx_ptr + t * B * G * H + offs_b[:, None] * G * H + offs_j[None, :]
            if FAMILY == 0:
                i = _sigmoid(tl.load(gx, mask=tile, other=0.0) + _matvec(h_prev, w0, b0))
                f = _sigmoid(tl.load(gx + H, mask=tile, other=0.0) + _matvec(h_prev, w1, b1))
                g = _tanh(tl.load(gx + 2 * H, mask=tile, other=0.0) + _matvec(h_prev, w2, b2))
                o = _sigmoid(tl.load(gx + 3 * H, mask=tile, other=0.0) + _matvec(h_prev, w3, b3))
                c_ptrs = cbuf_ptr + offs_b[:, None] * H + offs_j[None, :]
                c = f * tl.load(c_ptrs, mask=tile, other=0.0) + i * g
                tl.store(c_ptrs, c, mask=tile)
                h = o * _tanh(c)
            elif FAMILY == 1:
                r = _sigmoid(tl.load(gx, mask=tile, other=0.0) + _matvec(h_prev, w0, b0))
                z = _sigmoid(tl.load(gx + H, mask=tile, other=0.0) + _matvec(h_prev, w1, b1))
                n = _tanh(tl.load(gx + 2 * H, mask=tile, other=0.0) + r * _matvec(h_prev, w2, b2))
                h_own = tl.load(hbuf_ptr + t * B * H + offs_b[:, None] * H + offs_j[None, :], mask=tile, other=0.0,
                                cache_modifier=".cg")  # fmt: skip
                h = (1.0 - z) * n + z * h_own
            else:
                h = _tanh(tl.load(gx, mask=tile, other=0.0) + _matvec(h_prev, w0, b0))
            tl.store(hbuf_ptr + (t + 1) * B * H + offs_b[:, None] * H + offs_j[None, :], h, mask=tile)
        if PERSISTENT:
            # grid-wide barrier: every thread's stores are issued (CTA barrier), then one release increment
            tl.debug_barrier()
            arrived = tl.atomic_add(sync_ptr + t, 1, sem="release", scope="gpu") + 1
            polls = 0
            while (arrived < n_programs) & (polls < MAX_POLLS):
                arrived = tl.atomic_add(sync_ptr + t, 0, sem="acquire", scope="gpu")
                polls += 1
            if arrived < n_programs:
                tl.atomic_xchg(err_ptr, 1)
            tl.debug_barrier()


def interpreted() -> bool:
    """Whether this module was imported with TRITON_INTERPRET=1 (its kernels then run on CPU tensors)."""
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(recurrence_kernel, InterpretedFunction)


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def block_h_for(hidden_size: int, programs: int) -> int:
    """Units per program so that at most `programs` programs cover `hidden_size` (a power of two)."""
    return _next_pow2(-(-hidden_size // programs))


def check_grid(grid: int, device: torch.device) -> None:
    """A spin barrier deadlocks unless every program is resident: at most one program per SM."""
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    if grid > sms:
        raise ValueError(f"persistent grid of {grid} programs exceeds the {sms} SMs; they cannot all be resident")


def run_layer(family: str, gx: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, b_hh: Tensor, *, block_h: int,
              persistent: bool) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """gx (T, B, G*H) float32 -> (hbuf (T + 1, B, H), h_n, c_n), all float32; one launch (persistent) or T."""
    seq_len, batch, _ = gx.shape
    hidden = h0.shape[-1]
    hbuf = torch.empty(seq_len + 1, batch, hidden, device=gx.device, dtype=torch.float32)
    hbuf[0] = h0
    cbuf = c0.to(torch.float32).clone()
    sync = torch.zeros(max(seq_len, 1), device=gx.device, dtype=torch.int32)
    err = torch.zeros(1, device=gx.device, dtype=torch.int32)
    block_k = _next_pow2(hidden)
    block_b = max(1, min(_next_pow2(batch), PRODUCT_ELEMENTS // (block_k * block_h)))
    grid = (triton.cdiv(hidden, block_h),)
    if gx.device.type == "cpu" and not interpreted():
        raise ValueError("Triton kernels run on CPU tensors only in the interpreter: set TRITON_INTERPRET=1")
    if persistent and gx.device.type == "cuda":
        check_grid(grid[0], gx.device)
    args = (gx, w_hh.to(torch.float32).contiguous(), b_hh.to(torch.float32).contiguous(), hbuf, cbuf, sync, err)
    meta = dict(B=batch, H=hidden, FAMILY=FAMILY_CODES[family], PERSISTENT=persistent, MAX_POLLS=MAX_SPIN,
                BLOCK_B=block_b, BLOCK_H=block_h, BLOCK_K=block_k)  # fmt: skip
    spans = [(0, seq_len)] if persistent else [(t, t + 1) for t in range(seq_len)]
    num_warps = max(4, min(16, _next_pow2(GATES[family] * block_h * block_k // WEIGHTS_PER_WARP)))
    for t_begin, t_end in spans:
        compiled = recurrence_kernel[grid](*args, T_BEGIN=t_begin, T_END=t_end, num_warps=num_warps, **meta)
    if gx.device.type == "cuda":
        LAST_LAUNCH.update(grid=grid[0], num_warps=num_warps, n_regs=compiled.n_regs, n_spills=compiled.n_spills,
                           shared_bytes=compiled.metadata.shared)  # fmt: skip
    if persistent and int(err.item()):
        raise RuntimeError(f"grid-wide barrier timed out: {grid[0]} programs were not all resident")
    return hbuf, hbuf[seq_len], cbuf
