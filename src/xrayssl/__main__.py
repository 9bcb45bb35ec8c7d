from xrayssl.cli.main import main

raise SystemExit(main())
