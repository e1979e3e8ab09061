"""A new user's tour, ``heygem serve --host 0.0.0.0`` for colleagues.

Before: it printed "HeyGem Workbench: open http://0.0.0.0:8866/?token=...": no browser on another
machine can open 0.0.0.0 (it means "every interface"), yet that is the line one copies to a
colleague. Now the URL names this machine, and a second line gives the address on this machine.
"""
from __future__ import annotations

import socket

from heygem_kernel.serve import make_config


def test_a_wildcard_host_prints_an_address_that_can_be_opened():
    public = make_config(host="0.0.0.0", port=8870)
    token = public.token
    assert public.url == f"http://{socket.gethostname()}:8870/?token={token}"
    assert public.local_url == f"http://127.0.0.1:8870/?token={token}"
    assert "0.0.0.0" not in public.url
    named = make_config(host="192.168.1.5", token="s3cret")
    assert named.url == named.local_url == "http://192.168.1.5:8866/?token=s3cret"
    local = make_config()
    assert local.url == local.local_url == "http://127.0.0.1:8866/"
