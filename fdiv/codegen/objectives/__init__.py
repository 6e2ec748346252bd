"""Objectives other than the f-GAN saddle point, generated from the same derivations.

`link` decides whether a spec's f' gives a valid f-DPO link (the implicit reward beta f'(pi/pi_ref) plus a
normaliser that cancels in Bradley-Terry preferences); `terms` writes f'(e^r) as a sum of terms whose
differences and slopes evaluate without overflow or cancellation; `dpo` emits the preference-loss module;
`reference` evaluates the same losses exactly (mpmath), for tests and for users checking their own code.
"""
