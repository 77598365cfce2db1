from warden_executor.app import main

main()
