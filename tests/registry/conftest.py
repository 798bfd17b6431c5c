from tests.support.fakeregistry import fake_registry  # noqa: F401
from tests.support.proxy import squid  # noqa: F401
from tests.support.registry import (  # noqa: F401
    basic_registry,
    plain_registry,
    registry_ca,
    registry_factory,
    tls_registry,
    token_registry,
)
