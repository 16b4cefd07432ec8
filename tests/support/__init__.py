"""What the tests share: ``reverts`` (the one strict revert helper), the core contracts' helpers
(``core``), the DAO's (``dao``), the oracle's (``oracle``) and the browser tests' fixtures
(``frontend``)."""
