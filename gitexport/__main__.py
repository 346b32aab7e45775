from gitexport.cli import main

raise SystemExit(main())
