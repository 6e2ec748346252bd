"""Torch helpers that generated preference-loss modules embed (their source is copied in, so a module imports
torch only). They run inside autograd Functions whose backward is written out, so none needs a gradient."""
import torch
import torch.nn.functional as F


def _signed_sum(*pairs):
    """sum of s * exp(l) over the (s, l) pairs, s in {-1, 0, 1}: the positive and the negative terms as two
    log-sum-exps P and N, then exp(P) - exp(N) = sign(P - N) exp(max(P, N) + log(1 - e^-|P - N|)), so terms that
    overflow with opposite signs give the sign of the larger rather than inf - inf; exactly 0 when P = N."""
    logs = torch.stack(torch.broadcast_tensors(*[l for _, l in pairs]))
    signs = torch.stack([torch.as_tensor(s, dtype=logs.dtype, device=logs.device).expand(logs.shape[1:])
                         for s, _ in pairs])
    none = torch.full_like(logs, -torch.inf)
    p = torch.logsumexp(torch.where(signs > 0, logs, none), 0)
    n = torch.logsumexp(torch.where(signs < 0, logs, none), 0)
    same = p == n  # also where both are empty (-inf)
    d = torch.where(same, torch.ones_like(p), p - n)
    out = torch.sign(d) * torch.exp(torch.maximum(p, n) + _log1mexp(-torch.abs(d)))
    return torch.where(same, torch.zeros_like(out), out)


def _sigmoid_times(m, x, log_abs_x):
    """sigmoid(-m) * x, given log|x|: directly where sigmoid(-m) is a normal number and x is finite (full
    precision), else as sign(x) exp(logsigmoid(-m) + log|x|), where the direct product would be 0 * inf or lose
    its digits to an underflowed sigmoid."""
    s = torch.sigmoid(-m)
    direct = s * x
    ok = (s >= torch.finfo(s.dtype).tiny) & torch.isfinite(x)
    # sigmoid(-m) x -> 0 as m -> +oo even where x is infinite (x = m / beta)
    far = torch.where((m == torch.inf) & torch.isinf(log_abs_x), torch.zeros_like(log_abs_x), log_abs_x)
    logged = torch.sign(x) * torch.exp(F.logsigmoid(-m) + far)
    return torch.where(ok, direct, logged)
