"""Torch helpers that generated modules embed (their source is copied in, so a module imports torch only).

Each is stable over the whole float range, for values and gradients: where() branches get clamped inputs,
so the branch not taken never produces inf/NaN gradients.
"""
import math

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable


class _Softplus(torch.autograd.Function):
    """log(1 + exp(x)); threshold 40 keeps float64 exact to e^-40 (torch's default 20 loses 1e-10). The slope is
    grad * sigmoid(x): torch's own backward forms grad * e^x before dividing by 1 + e^x, which overflows float32 for
    x in (20, 40) once grad is above 1e21 (the slope of f* = 1.9e32 at v = 29 for a u log u f came back inf). One
    tensor of the batch is allocated, as torch's own backward does (the product in place); under create_graph the
    backward pass is made of differentiable operations, so a second derivative is taken through it."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return F.softplus(x, beta=1.0, threshold=40.0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: sigmoid's output is saved for its own backward
            return grad * torch.sigmoid(x)
        return torch.sigmoid(x).mul_(grad)


def _softplus(x):
    return _Softplus.apply(x)


class _Tanh(torch.autograd.Function):
    """tanh(x) with the slope 1 - tanh(x)^2 written as 1/cosh(x)^2: autograd's 1 - tanh^2 cancels in float32 (3e-4
    relative at x = 5, the slope of a bounded critic range's sigma_f there; 0 from x = 9). cosh^2 overflows where
    the slope is below float32's normal range anyway. The backward pass is made of differentiable operations, so a
    second derivative is taken through it."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.tanh(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / torch.cosh(x) ** 2


def _tanh(x):
    return _Tanh.apply(x)


class _LogSoftplus(torch.autograd.Function):
    """log(softplus(x)) with the analytic slope sigmoid(x)/softplus(x). Below -80, where e^x nears float32's
    subnormals, log(softplus(x)) = x - e^x/2 + ... is x itself (the next term is below 1e-34 relative in both
    dtypes); the slope is taken at max(x, -80), where sigmoid and softplus are both normal floats, and is 1 below.
    One where in the forward pass and three kernels in the backward one (a clamped two-branch where and its
    autograd graph cost four times that)."""

    @staticmethod
    def forward(ctx, x):
        xc = torch.clamp(x, min=-80.0)
        s = F.softplus(xc, beta=1.0, threshold=40.0)
        ctx.save_for_backward(xc, s)
        return torch.where(x < -80.0, x, torch.log(s))

    @staticmethod
    @once_differentiable  # the saved tensors carry no graph: a second derivative must fail, not come out wrong
    def backward(ctx, grad):
        xc, s = ctx.saved_tensors
        return torch.sigmoid(xc).div_(s).mul_(grad)


def _log_softplus(x):
    return _LogSoftplus.apply(x)


def _log1mexp(x, k=1.0):
    """log(1 - exp(k x)) for k x < 0 (k > 0 a constant), without expm1: log(-k x) + log((1 - e^(k x))/(-k x)) by
    its series (to x^6, 1e-15 relative) above k x = -0.1, below it log1p(-e^(k x)), where 1 - e^(k x) >= 0.095
    loses nothing. log(-k x) is log(-x) + log k: k x itself rounds where x is subnormal (f* of 5/2 times the GAN
    f at t = -4e-44 in float32 was 2e-4 off). One formula in eager and compiled code alike: inductor's CPU code
    computes expm1(x) as exp(x) - 1 in float32 (all digits lost at x = -1e-8, where the conjugate of the GAN row
    became +inf)."""
    if k == 1.0:
        y = torch.clamp(-x, max=0.1)
        y2 = y * y
        series = torch.log(y) + y * (-0.5 + y * (1.0 / 24.0 + y2 * (-1.0 / 2880.0 + y2 * (1.0 / 181440.0))))
        return torch.where(x > -0.1, series, torch.log1p(-torch.exp(torch.clamp(x, max=-0.1))))
    z = x * k
    y = torch.clamp(-x, max=0.1 / k)
    yk = y * k
    y2 = yk * yk
    series = torch.log(y) + (math.log(k) + yk * (-0.5 + yk * (1.0 / 24.0 + y2 * (-1.0 / 2880.0 + y2 * (1.0 / 181440.0)))))
    return torch.where(z > -0.1, series, torch.log1p(-torch.exp(torch.clamp(z, max=-0.1))))


def _wright_omega_value(x):
    """omega(x) = W(e^x), the root of w + log w = x, in x's dtype: Winitzki's approximation
    s (1 - log(1 + s)/(2 + s)), s = softplus(x) = log(1 + e^x) (within 2% everywhere), then Newton steps, 2 in
    float32 and 3 in float64 (quadratic convergence: 7 and 14 ulps at worst against mpmath). Below -80 omega is
    e^x (1 - e^x + ...) = softplus(x) to 1e-34 (and Newton's log would meet a subnormal or 0)."""
    s = F.softplus(x, beta=1.0, threshold=40.0)
    w = s * (1.0 - torch.log1p(s) / (2.0 + s))
    for _ in range(3 if x.dtype == torch.float64 else 2):
        w = w * (1.0 + (x - w - torch.log(w)) / (1.0 + w))
    return torch.where(x < -80.0, s, w)


class _WrightOmega(torch.autograd.Function):
    """omega(x) = W(e^x) with d omega/dx = omega/(1 + omega), in the input's dtype."""

    @staticmethod
    def forward(ctx, x):
        w = _wright_omega_value(x)
        ctx.save_for_backward(w)
        return w

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        scale = w / (1 + w)
        # where omega underflows to 0 its true slope is below every float: an infinite incoming gradient (f*
        # overflowing) must not turn into inf * 0 = NaN
        return torch.where(scale == 0, torch.zeros_like(grad), grad * scale)


def _wright_omega(x):
    return _WrightOmega.apply(x)


def _log1mexp_ratio(x):
    """log((1 - exp(-x))/x) for x >= 0: -x/2 + x^2/24 - x^4/2880 below 1e-3 (the next term is below 1e-22),
    log(-expm1(-x)) - log(x) above; each branch sees only inputs of its own side."""
    small = x < 1e-3
    xs = torch.where(small, x, torch.zeros_like(x))
    xl = torch.where(small, torch.ones_like(x), x)
    series = xs * (-0.5 + xs * (1.0 / 24.0 - xs * xs / 2880.0))
    return torch.where(small, series, torch.log(-torch.expm1(-xl)) - torch.log(xl))


def _log1mexp_softplus(x, k):
    """log(1 - exp(-k softplus(x))) for a constant k > 0, finite and accurate for every x: log(-expm1(-z)), z = k
    softplus(x), is accurate wherever z is a normal float (-expm1(-z) = z for tiny z); below x = -80, where
    softplus(x) = e^x nears the subnormals, it is log k + x (the next term, -z/2, is below e^-80). The mask is the
    rare x < -80, so the where is cheap."""
    xc = torch.clamp(x, min=-80.0)
    return torch.where(x < -80.0, x + math.log(k), torch.log(-torch.expm1(-k * _softplus(xc))))


def _log_wright_omega(x, w):
    """log omega(x) given w = omega(x): log w, except below x = -80, where w is e^x and may be subnormal or 0 (log 0
    = -inf, and its gradient inf * 0 = NaN): there x - w. The clamp only guards the branch not taken (w >= e^-80
    > 1e-37 wherever log w is used). x - w elsewhere would cancel for large x; the threshold is far from typical
    logits, so the mask is predictable (torch.where costs 6x an add on a random one)."""
    return torch.where(x < -80.0, x - w, torch.log(torch.clamp(w, min=1e-37)))


class _LogGap(torch.autograd.Function):
    """log x for the distance x > 0 of t to a kink of f* inside the critic range, floored at the dtype's smallest
    normal float, with the slope 1/max(x, tiny). At the kink itself x rounds to 0: log 0 = -inf and its slope
    1/0 times the solver's e^y = 0 would be NaN; floored, the solver sees a t one tiny float inside its branch (f*
    off by at most tiny * u*) and the chain e^y / max(x, tiny) = 1 carries the exact slope u* through."""

    @staticmethod
    def forward(ctx, x):
        xc = torch.clamp(x, min=torch.finfo(x.dtype).tiny)
        ctx.save_for_backward(xc)
        return torch.log(xc)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (xc,) = ctx.saved_tensors
        return grad / xc


def _log_gap(x):
    return _LogGap.apply(x)


def _wide_gap(fn, rest, end, mask=None):
    """fn(end + rest) with the distance end + rest formed in float64 and the result in rest's dtype: t's distance to
    a kink at a large slope rounds to ulps of the slope in float32 (6e-5 at 1584.68), and f* moves by that times u*
    (seed 27182, index 55: 2.3e-5 off at t = 1)."""
    wide = rest.double() + end
    return (fn(wide) if mask is None else fn(wide, mask)).to(rest.dtype)


class _XLog1pX(torch.autograd.Function):
    """(1 + y) log1p(y), 0 at y = -1 (x log x at x = 0: a closed end of dom f*), where the product of its factors
    would be 0 * -inf = NaN, and so would its slope through autograd; slope log1p(y) + 1 (-inf there)."""

    @staticmethod
    def forward(ctx, y):
        ctx.save_for_backward(y)
        return torch.special.xlog1py(1.0 + y, y)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (torch.log1p(y) + 1.0)


def _xlog1px(y):
    return _XLog1pX.apply(y)


class _XLogX(torch.autograd.Function):
    """x log|x|, 0 at x = 0 (a closed end of dom f*), where the product of its factors would be 0 * -inf = NaN, and
    so would its slope through autograd; slope log|x| + 1 (-inf there)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.special.xlogy(x, x.abs())

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (torch.log(x.abs()) + 1.0)


def _xlogx(x):
    return _XLogX.apply(x)


def _hypot(a, b):
    """sqrt(a^2 + b^2) without overflow (torch.hypot), b a tensor or a constant."""
    return torch.hypot(a, torch.as_tensor(b, dtype=a.dtype, device=a.device))


class _InfSlope(torch.autograd.Function):
    """+inf, with slope +inf (0 where no gradient comes in): an increasing function past the float range."""

    @staticmethod
    def forward(ctx, v):
        return torch.full_like(v, math.inf)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return torch.where(grad == 0, torch.zeros_like(grad), grad * math.inf)


def _past_the_range(fn, v):
    """fn(v), for an fn that increases where its value leaves the float range (f* at the right end of its domain,
    the density ratio): there the value and its slope are +inf, and fn is differentiated only where its value is a
    float (its reverse pass would form inf * 0 = NaN through the terms that underflowed). In the common case, no
    value past the range, this costs one check; under torch.compile it is fn(v)."""
    out = fn(v)
    if getattr(torch.compiler, "is_compiling", lambda: False)():
        return out
    over = torch.isposinf(out)
    if not bool(over.any()):
        return out
    return torch.where(over, _InfSlope.apply(v), fn(torch.where(over, torch.zeros_like(v), v)))


def _ratio_past_the_range(fn, v):
    """The density ratio fn(v) >= 0, increasing in v: +inf with slope +inf where it leaves the float range (as
    _past_the_range), and 0 with slope 0 where it underflows to 0 (its reverse pass there would form inf / inf or
    inf * 0 = NaN through the terms that overflowed: 2/(3 e^(-9 v) - 1) at v = -1e4). fn is differentiated only
    where its value is a positive float. Under torch.compile it is fn(v)."""
    out = fn(v)
    if getattr(torch.compiler, "is_compiling", lambda: False)():
        return out
    over, under = torch.isposinf(out), out == 0
    outside = over | under
    if not bool(outside.any()):
        return out
    inside = fn(torch.where(outside, torch.zeros_like(v), v))
    return torch.where(over, _InfSlope.apply(v), torch.where(under, torch.zeros_like(inside), inside))


def _bracketed_newton(target, g, lo, hi, steps=64):
    """y in [lo, hi] with g(y) = target, for g increasing in y (g returns its value and derivative): a Newton
    step where it stays inside the bracket around the root and at least halves the step before it, bisection
    otherwise (rtsafe), so neither a far start nor a function Newton crawls along (e^u) can stall it. A fixed
    number of steps keeps the graph static (torch.compile captures it whole); 64 halvings take any bracket
    within [-745, 745] below float64 resolution, and Newton usually finishes in a few."""
    a = torch.full_like(target, lo)
    b = torch.full_like(target, hi)
    y = torch.zeros_like(target).clamp(lo, hi)
    dx_old = b - a
    for _ in range(steps):
        value, slope = g(y)
        r = value - target
        # where f' overflowed (inf, or inf/inf = NaN) its sign is not to be trusted: u is then far out, too
        # high towards u -> oo (y > 0), too low towards u -> 0
        low = torch.where(torch.isfinite(r), r <= 0.0, y < 0.0)
        a = torch.where(low, y, a)
        b = torch.where(low, b, y)
        newton = y - r / slope
        take = (newton > a) & (newton < b) & (2.0 * r.abs() <= (dx_old * slope).abs())
        mid = 0.5 * (a + b)
        y_next = torch.where(take, newton, mid)
        dx_old = torch.where(take, y - newton, 0.5 * (b - a))
        y = y_next
    return y


def _chunked(fn, x):
    """fn(x), a tuple of tensors shaped like x, computed over slices of x of 256 KiB on the CPU. A numeric solve
    makes tens of temporaries of its input's size: whole, each of 1e6 logits is a fresh allocation whose pages the
    kernel maps and zeroes, outside the cache; in slices they stay in the cache and the allocator reuses them (two
    to three times faster at 1e6 logits). Whole on other devices, and under torch.compile, which fuses them away."""
    size = 2**18 // x.element_size()
    compiling = getattr(torch.compiler, "is_compiling", lambda: False)()
    if x.numel() <= size or x.device.type != "cpu" or compiling:
        return fn(x)
    parts = [fn(piece) for piece in x.reshape(-1).split(size)]
    return tuple(torch.cat(column).view_as(x) for column in zip(*parts))


class _FusedMean(torch.autograd.Function):
    """mean fn(v) whose gradient is computed in the forward pass, over slices of v of 256 KiB on the CPU, and saved:
    the backward pass is one product. Autograd's graph through fn over the whole of v holds every intermediate
    of every element at once (three to ten tensors of v's size for a numeric f*); slice by slice they stay in the
    cache and only the gradient is kept, about as much memory as the catalogue's fused Jeffrey loss."""

    @staticmethod
    def forward(ctx, v, fn):
        size = 2**18 // v.element_size() if v.device.type == "cpu" else v.numel()
        flat = v.detach().reshape(-1)
        ctx.scale = 1.0 / max(v.numel(), 1)
        if not ctx.needs_input_grad[0]:
            ctx.save_for_backward()
            return torch.stack([fn(piece).sum() for piece in flat.split(max(size, 1))]).sum() * ctx.scale
        grads, sums = torch.empty_like(flat), []
        start = 0
        for piece in flat.split(max(size, 1)):
            with torch.enable_grad():
                leaf = piece.detach().requires_grad_()
                value = fn(leaf).sum()
                (slope,) = torch.autograd.grad(value, leaf)
            grads[start:start + piece.numel()] = slope
            start += piece.numel()
            sums.append(value.detach())
        ctx.save_for_backward(grads.view_as(v))
        return torch.stack(sums).sum() * ctx.scale

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (slope,) = ctx.saved_tensors
        return slope * (grad * ctx.scale), None


def _fused_mean(fn, v):
    """mean fn(v) (see _FusedMean); fn(v).mean() itself under torch.compile, which fuses the graph away, and for an
    input of one slice or less on the CPU (the same numbers as compiled code then, to the bit)."""
    if getattr(torch.compiler, "is_compiling", lambda: False)() or v.device.type == "cpu" and \
            v.numel() <= 2**18 // v.element_size():
        return fn(v).mean()
    return _FusedMean.apply(v, fn)


def _solve_where(fn, x, mask, fill):
    """fn(x) (a tuple of tensors shaped like x, see _chunked) where mask holds and `fill` elsewhere: a numeric branch
    of a piecewise f* solves only for the inputs its branch takes (each branch of torch.where is evaluated on every
    element). Everywhere without a mask, and under torch.compile (whose graph has static shapes)."""
    compiling = getattr(torch.compiler, "is_compiling", lambda: False)()
    if mask is None or compiling:
        return _chunked(fn, x)
    flat = x.reshape(-1)
    index = mask.reshape(-1).nonzero().squeeze(1)  # once: boolean indexing would find it again for every tensor
    parts = _chunked(fn, flat.index_select(0, index))
    return tuple(torch.full_like(flat, value, dtype=part.dtype).index_copy_(0, index, part).view_as(x)
                 for part, value in zip(parts, fill))


def _series_near(value, t, lo, hi, delta, coefficients):
    """value, except where lo < t < hi: there the polynomial sum_k c_k e^(k+1) in e = delta(t), formed in float64
    (f* next to its zero, where t u* - f(u*) cancels; see lower.zero). In eager mode only the elements inside are
    gathered (a distance and its minimum are the whole cost where there are none); under torch.compile (static
    shapes, no data-dependent index) every element's series in torch.where, added to value without a gradient of
    its own."""
    if not getattr(torch.compiler, "is_compiling", lambda: False)():
        # the distance to the middle and its minimum: a float reduction is 4x faster than comparing into a bool
        # tensor and reducing that (a NaN in the chunk makes the minimum NaN, and leaves that chunk's values as
        # they are)
        gap = (t.detach() - (lo + hi) / 2).abs_()
        if gap.numel() == 0 or not float(gap.min()) < (hi - lo) / 2:
            return value
        index = (gap < (hi - lo) / 2).reshape(-1).nonzero().squeeze(1)
        e = delta(t.detach().reshape(-1).index_select(0, index).double())
        # the powers at once (two kernels on a few elements, not a Horner loop of one kernel per term)
        powers = e.unsqueeze(1) ** torch.arange(1, len(coefficients) + 1, dtype=e.dtype, device=e.device)
        series = powers @ torch.tensor(coefficients, dtype=e.dtype, device=e.device)
        # written into a copy outside autograd: only the value is replaced; its slope, u*, comes from the solve and
        # has no cancellation, so the incoming gradient passes to `value` as it is (and none goes back through t's
        # graph)
        out = value.clone(memory_format=torch.contiguous_format)
        with torch.no_grad():
            out.view(-1).index_copy_(0, index, series.to(value.dtype))
        return out
    near = (t > lo) & (t < hi)
    e = delta(torch.where(near, t, torch.full_like(t, (lo + hi) / 2)).detach().double())
    series = torch.zeros_like(e)
    for c in reversed(coefficients):
        series = (series + c) * e
    return value + torch.where(near, series.to(value.dtype) - value, 0.0).detach()


def _past_top(u):
    """Where u* at the top of a table counts as past the dtype's range: float32's top half (the float64 solve, which
    _beyond_float32 runs there, reaches further), and float64 from 2^1020 (the tables stop at u = e^709 ~ 2^1023)."""
    return 0.5 * torch.finfo(torch.float32).max if u.dtype == torch.float32 else 2.0**1020


def _beyond_float32(fn, x, outs):
    """(x, *outs) where the float32 solve put u* (outs[1]) at the top of float32's range (the root lies beyond it:
    f*(t) can still be a float32, 2.5 log(1/c) for the GAN f weighted by 5/2 at c = e^-100): those elements solved
    again in float64, and then x and every output in float64 (the caller casts its outputs back). As they were
    without such elements, and under torch.compile."""
    if x.dtype != torch.float32 or getattr(torch.compiler, "is_compiling", lambda: False)():
        return (x, *outs)
    over = outs[1] >= 0.5 * torch.finfo(torch.float32).max
    if not bool(over.any()):
        return (x, *outs)
    index = over.reshape(-1).nonzero().squeeze(1)
    parts = fn(x.reshape(-1).index_select(0, index).double())
    x = x.double()
    return (x, *(out.double().reshape(-1).index_copy_(0, index, part).view_as(x) for out, part in zip(outs, parts)))


def _table_columns(knots, xi0, h):
    """Per knot interval of a numeric piece's table: its ends in y (the bracket), its start in z and the slope
    dy/dz, in float64. The module stores the knots in y only; their z, uncompressed from xi = xi0 + k h, is
    computed here by the operations fdiv.lower.table uses, to the same bits (IEEE arithmetic, no fused steps)."""
    xi = torch.arange(knots.numel(), dtype=torch.float64) * h + xi0
    zs = xi / (1.0 - xi.abs() * (1.0 / 12.0))
    return knots[:-1], knots[1:], zs[:-1], (knots[1:] - knots[:-1]) / (zs[1:] - zs[:-1])


def _exp_map(y):
    """u = e^y on (0, oo), and du/dy."""
    u = torch.exp(y)
    return u, u


def _logistic_map(y, lo, hi):
    """u = lo + (hi - lo) sigmoid(y) on (lo, hi), each end approached without rounding onto it; du/dy."""
    w = hi - lo
    s = torch.sigmoid(y)
    u = torch.where(y < 0, lo + w * s, hi - w * torch.sigmoid(-y))
    return u, w * s * torch.sigmoid(-y)


def _shifted_exp_map(y, lo):
    """u = lo + e^y on (lo, oo), and du/dy."""
    e = torch.exp(y)
    return lo + e, e


def _branchwise(x, bounds, points, fns):
    """A piecewise function of x: fns[i] where x lies on branch i, whose upper end is bounds[i] = (b, "<" or "<="),
    the last branch taking the rest (NaN included). On the CPU in eager mode each branch is evaluated on its own
    elements only (gathered, then scattered back): torch.where would evaluate every branch on every element, and
    autograd would go back through all of them. Under torch.compile (static shapes) and on other devices: the
    branches nested in torch.where, each seeing x where it holds and the interior point points[i] elsewhere (None:
    x itself), so a branch not taken stays finite with a zero gradient; a branch gets its mask (for a numeric
    solve, see _solve_where)."""
    compiling = getattr(torch.compiler, "is_compiling", lambda: False)()
    if compiling or x.device.type != "cpu":
        out = None
        for i in reversed(range(len(fns))):
            held = [x < b if op == "<" else x <= b for b, op in bounds[i:i + 1]] + \
                   [x >= b if op == "<" else x > b for b, op in bounds[i - 1:i] if i > 0]
            mask = held[0] & held[1] if len(held) == 2 else held[0] if held else None
            inner = x if points[i] is None else torch.where(mask, x, torch.full_like(x, points[i]))
            value = fns[i](inner, mask)
            out = value if out is None else torch.where(held[0], value, out)
        return out
    flat = x.reshape(-1)
    # the branch of each element: how many upper ends it lies past; NaN fails every test, as in torch.where
    index = sum((flat >= b if op == "<" else flat > b).to(torch.uint8) for b, op in bounds)
    index = torch.where(flat.isnan(), len(bounds), index)
    # the elements grouped by branch, each group in its order: a stable sort of the branch numbers (one pass,
    # four times faster than a nonzero per branch)
    order = torch.argsort(index, stable=True)
    parts = flat.index_select(0, order).split(torch.bincount(index, minlength=len(fns)).tolist())
    values = torch.cat([fn(part, None) for fn, part in zip(fns, parts)])
    return torch.index_copy(torch.empty_like(values), 0, order, values).view_as(x)
