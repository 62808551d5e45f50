from routeagent.main import main

main()
