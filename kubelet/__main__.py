"""`python -m kubelet [--hollow ...]`: the real kubelet, or the scheduler helper's hollow one."""

import sys

if "--hollow" in sys.argv:
    from kubelet.hollow import main as hollow_main

    hollow_main()
else:
    from kubelet.main import main

    main()
