"""What the tests share: ``reverts`` (the one strict revert helper), the core contracts' helpers
(``core``), the DAO's (``dao``), the oracle's (``oracle``), the browser tests' fixtures
(``frontend``), the real-work tests' demo model (``work``) and job world on anvil (``jobs``)."""
