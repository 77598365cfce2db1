// Container Apps: the long-running services as apps (scale 1..maxReplicas, competing consumers on
// their subscriptions; maxReplicas is 1 where the service's state is not shared), the executor as an event-triggered Container Apps Job woken by the doorbell
// (sre.action.pending.v1/executor) through KEDA's Service Bus scaler with the executor identity.
param location string
param prefix string
@description('[{ name, identityId, ingress, env, maxReplicas }] one per long-running service; env: its whole environment (main.bicep\'s generated `environments`)')
param services array
param executorIdentityId string
@description('the executor job\'s whole environment (main.bicep\'s generated `environments.executor`)')
param executorEnv array
param imagePrefix string
param imageTag string
@description('registry login server for the images; its AcrPull role is granted outside this template')
param registryServer string = ''
param serviceBusNamespace string

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${prefix}'
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: 'cae-${prefix}'
  location: location
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
  }
}

resource apps 'Microsoft.App/containerApps@2024-03-01' = [for s in services: {
  name: 'ca-${prefix}-${s.name}'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${s.identityId}': {}
    }
  }
  properties: {
    environmentId: environment.id
    configuration: {
      ingress: s.ingress ? {
        external: true
        targetPort: 8080
        transport: 'http'
      } : null
      registries: empty(registryServer) ? [] : [
        {
          server: registryServer
          identity: s.identityId
        }
      ]
    }
    template: {
      containers: [
        {
          name: s.name
          image: '${imagePrefix}${s.name}:${imageTag}'
          env: s.env
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          probes: [
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: 8080
              }
              periodSeconds: 15
            }
          ]
        }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: s.maxReplicas
      }
    }
  }
}]

resource executor 'Microsoft.App/jobs@2024-03-01' = {
  name: 'job-${prefix}-executor'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${executorIdentityId}': {}
    }
  }
  properties: {
    environmentId: environment.id
    configuration: {
      triggerType: 'Event'
      replicaTimeout: 1800
      replicaRetryLimit: 1
      eventTriggerConfig: {
        parallelism: 1
        replicaCompletionCount: 1
        scale: {
          minExecutions: 0
          maxExecutions: 1
          pollingInterval: 10
          rules: [
            {
              name: 'doorbell'
              type: 'azure-servicebus'
              metadata: {
                namespace: serviceBusNamespace
                topicName: 'sre.action.pending.v1'
                subscriptionName: 'executor'
                messageCount: '1'
              }
              identity: executorIdentityId
            }
          ]
        }
      }
      registries: empty(registryServer) ? [] : [
        {
          server: registryServer
          identity: executorIdentityId
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'executor'
          image: '${imagePrefix}executor:${imageTag}'
          // Job-style hosting: recover, elevate (PIM), drain the approved actions, release, exit.
          command: [
            'python'
            '-m'
            'warden_executor'
            '--drain-once'
          ]
          env: executorEnv
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
        }
      ]
    }
  }
}

output webhookUrl string = 'https://${apps[0].properties.configuration.ingress.fqdn}'
