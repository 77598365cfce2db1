// Service Bus namespace, topics and subscriptions from topology.json (generated from the topology
// table; tests/contract/test_bicep_topology.py fails if it drifts), and the per-identity RBAC:
// Data Sender on each topic an identity produces, Data Receiver on its own subscription only.
// sre.action.approved.v1/executor gets no standing role: the executor activates a PIM
// eligibility for it just in time (docs/azure.md, "Just-in-time roles").
param location string
param namespaceName string
@description('principal ids of the managed identities, in topology.json "identities" order')
param principalIds array
@description('object ids of existing Entra principals for ingest, operator, siem; empty string skips')
param externalPrincipals object = {
  ingest: ''
  operator: ''
  siem: ''
}

var topology = loadJsonContent('topology.json')
var sb = topology.servicebus
var dataSender = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39')
var dataReceiver = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0')

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: namespaceName
  location: location
  // Standard: topics and duplicate detection; 256 KB messages, the limit the adapters enforce.
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true // no SAS keys: Entra ID only
    minimumTlsVersion: '1.2'
  }
}

resource topics 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = [for name in topology.topics: {
  parent: namespace
  name: name
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: sb.duplicateDetectionHistoryTimeWindow
    defaultMessageTimeToLive: sb.defaultMessageTimeToLive
    supportOrdering: true
    enablePartitioning: false
  }
}]

resource subscriptions 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = [for s in topology.subscriptions: {
  name: '${namespace.name}/${s.topic}/${s.name}'
  dependsOn: [
    topics
  ]
  properties: {
    lockDuration: sb.lockDuration
    maxDeliveryCount: sb.maxDeliveryCount
    defaultMessageTimeToLive: sb.defaultMessageTimeToLive
    deadLetteringOnMessageExpiration: true
    deadLetteringOnFilterEvaluationExceptions: true
    requiresSession: false
  }
}]

// Replaces the TrueFilter `$Default` rule: a re-driven message (warden_target set) reaches only
// the subscription it names.
resource rules 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2022-10-01-preview' = [for (s, i) in topology.subscriptions: {
  parent: subscriptions[i]
  name: '$Default'
  properties: {
    filterType: 'SqlFilter'
    sqlFilter: {
      sqlExpression: s.filter
    }
  }
}]

resource senders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for a in topology.senders: {
  name: guid(namespace.id, a.topic, a.identity, 'sender')
  scope: topics[a.topicIndex]
  properties: {
    roleDefinitionId: dataSender
    principalId: principalIds[a.identityIndex]
    principalType: 'ServicePrincipal'
  }
}]

resource receivers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for a in topology.receivers: {
  name: guid(namespace.id, a.topic, a.subscription, a.identity, 'receiver')
  scope: subscriptions[a.subscriptionIndex]
  properties: {
    roleDefinitionId: dataReceiver
    principalId: principalIds[a.identityIndex]
    principalType: 'ServicePrincipal'
  }
}]

resource externalSenders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for a in topology.externalSenders: if (!empty(externalPrincipals[a.identity])) {
  name: guid(namespace.id, a.topic, a.identity, 'external-sender')
  scope: topics[a.topicIndex]
  properties: {
    roleDefinitionId: dataSender
    principalId: externalPrincipals[a.identity]
  }
}]

resource externalReceivers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for a in topology.externalReceivers: if (!empty(externalPrincipals[a.identity])) {
  name: guid(namespace.id, a.topic, a.subscription, a.identity, 'external-receiver')
  scope: subscriptions[a.subscriptionIndex]
  properties: {
    roleDefinitionId: dataReceiver
    principalId: externalPrincipals[a.identity]
  }
}]

output namespaceName string = namespace.name
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
@description('scopes (subscription resource ids) that need a PIM eligibility instead of a standing role')
output eligibleScopes array = [for a in topology.eligibleReceivers: subscriptions[a.subscriptionIndex].id]
