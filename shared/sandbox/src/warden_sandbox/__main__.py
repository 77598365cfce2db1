from warden_sandbox.app import main

main()
